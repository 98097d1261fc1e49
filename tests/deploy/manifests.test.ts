import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { gatewayDefaultPort, subgraphModules } from '../../platform/services.ts';

// Static checks of deploy/: no Docker engine or cluster runs here, so the image is not built and
// nothing is applied; manifests are validated against the Kubernetes schemas shipped with
// kubernetes-models (types, required fields, enums; unknown fields are not rejected).
const root = new URL('../../', import.meta.url).pathname;
const deployDir = join(root, 'deploy');
const k8sDir = join(deployDir, 'k8s');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Container {
  name: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[] } & Record<string, unknown>;
}

type Validator = (object: K8sObject) => void;
const validators: Record<string, Validator> = {
  'v1/Namespace': (o) => new Namespace(o).validate(),
  'v1/ServiceAccount': (o) => new ServiceAccount(o).validate(),
  'v1/ConfigMap': (o) => new ConfigMap(o).validate(),
  'v1/Secret': (o) => new Secret(o).validate(),
  'v1/Service': (o) => new Service(o).validate(),
  'apps/v1/Deployment': (o) => new Deployment(o).validate(),
  'apps/v1/DaemonSet': (o) => new DaemonSet(o).validate(),
  'batch/v1/Job': (o) => new Job(o).validate(),
  'autoscaling/v2/HorizontalPodAutoscaler': (o) => new HorizontalPodAutoscaler(o).validate(),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o).validate(),
};

function readObjects(file: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8'));
  return docs.map((doc) => {
    expect(doc.errors, `${file}: ${doc.errors.join('; ')}`).toEqual([]);
    return doc.toJS() as K8sObject;
  });
}

/** A minimal Kustomize: the `resources:` files of deploy/k8s/kustomization.yaml, in order. */
const kustomization = parse(readFileSync(join(k8sDir, 'kustomization.yaml'), 'utf8')) as {
  namespace?: string;
  resources: string[];
};
const applied = kustomization.resources.flatMap((file) =>
  readObjects(file).map((object) => ({ file, object })),
);
const yamlFiles = readdirSync(k8sDir).filter(
  (f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml',
);
const all = yamlFiles.flatMap((file) => readObjects(file).map((object) => ({ file, object })));
const ofKind = <T>(kind: string, objects = applied) =>
  objects.filter((e) => e.object.kind === kind).map((e) => e.object as unknown as T);

const services = [...subgraphModules.map((m) => m.name), 'gateway'];
const portOf = (name: string) =>
  name === 'gateway'
    ? gatewayDefaultPort
    : subgraphModules.find((m) => m.name === name)!.defaultPort;

interface Workload {
  metadata: { name: string };
  spec: { template: PodTemplate; selector: { matchLabels: Record<string, string> } };
}
const deployments = ofKind<Workload>('Deployment');
const deploymentFor = (service: string) =>
  deployments.find(
    (d) => d.spec.template.spec.containers[0]?.args?.join(' ') === `start ${service}`,
  );

describe('Kubernetes manifests (deploy/k8s)', () => {
  it('parse, and every object validates against the Kubernetes schema', () => {
    expect(all.length).toBeGreaterThan(10);
    for (const { file, object } of all) {
      const key = `${object.apiVersion}/${object.kind}`;
      const validate = validators[key];
      expect(validate, `${file}: no schema for ${key}`).toBeDefined();
      expect(() => validate!(object), `${file}: ${key} ${object.metadata?.name}`).not.toThrow();
    }
  });

  it('kustomization lists existing files, every file except the example Secret', () => {
    expect(kustomization.namespace).toBe('lotabots');
    for (const file of kustomization.resources) expect(yamlFiles).toContain(file);
    const notApplied = yamlFiles.filter((f) => !kustomization.resources.includes(f)).sort();
    expect(notApplied).toEqual(['secret.example.yaml']);
    const names = applied.map((e) => `${e.object.kind}/${e.object.metadata.name}`);
    expect(new Set(names).size, 'duplicate object names').toBe(names.length);
  });

  it.each(services)(
    '%s has a Deployment with the right port and /readyz, /healthz probes',
    (service) => {
      const deployment = deploymentFor(service);
      expect(deployment, `no Deployment runs "start ${service}"`).toBeDefined();
      const { template, selector } = deployment!.spec;
      const container = template.spec.containers[0]!;
      const port = portOf(service);
      expect(container.ports?.[0]).toMatchObject({ name: 'http', containerPort: port });
      expect(container.env).toContainEqual({ name: 'PORT', value: String(port) });
      expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      for (const [k, v] of Object.entries(selector.matchLabels)) {
        expect(template.metadata.labels[k]).toBe(v);
      }
      // Multi-process: events cross processes through Redis only.
      expect(container.env?.map((e) => e.name)).toContain('REDIS_URL');

      const name = deployment!.metadata.name;
      const hpa = ofKind<{
        spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number };
      }>('HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === name);
      expect(hpa?.spec.scaleTargetRef.kind).toBe('Deployment');
      expect(hpa!.spec.minReplicas).toBeGreaterThanOrEqual(2);
      const pdb = ofKind<{ spec: { selector: { matchLabels: Record<string, string> } } }>(
        'PodDisruptionBudget',
      ).find(
        (p) => JSON.stringify(p.spec.selector.matchLabels) === JSON.stringify(selector.matchLabels),
      );
      expect(pdb, `no PodDisruptionBudget for ${name}`).toBeDefined();
      const svc = ofKind<{ metadata: { name: string }; spec: { ports: { port: number }[] } }>(
        'Service',
      ).find((s) => s.metadata.name === service);
      expect(svc?.spec.ports[0]?.port).toBe(port);
    },
  );

  it('has no Deployment for a service the code does not have', () => {
    expect(deployments).toHaveLength(services.length);
  });

  it('the gateway finds identity through its Service', () => {
    const env = deploymentFor('gateway')!.spec.template.spec.containers[0]!.env!;
    expect(env.find((e) => e.name === 'SUBGRAPH_IDENTITY_URL')?.value).toMatch(
      /^http:\/\/identity[.:].*4001\/graphql$/,
    );
  });

  it('has default-deny NetworkPolicies that open gateway → subgraphs and services → stores', () => {
    const policies = ofKind<{ metadata: { name: string }; spec: Record<string, unknown> }>(
      'NetworkPolicy',
    );
    const byName = new Map(policies.map((p) => [p.metadata.name, p.spec]));
    expect(byName.get('default-deny')).toEqual({
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
    });
    expect(JSON.stringify(byName.get('subgraphs-from-gateway'))).toContain('"gateway"');
    expect(JSON.stringify(byName.get('gateway-to-subgraphs'))).toContain('"subgraph"');
    const stores = JSON.stringify(byName.get('services-to-stores'));
    for (const port of [5432, 6379, 443]) expect(stores).toContain(`"port":${port}`);
    for (const service of subgraphModules) {
      const labels = deploymentFor(service.name)!.spec.template.metadata.labels;
      expect(labels['lotabots.dev/tier']).toBe('subgraph');
    }
  });

  it('has a migration Job running `db migrate apply`', () => {
    const jobs = ofKind<{ spec: { template: PodTemplate } }>('Job');
    expect(jobs).toHaveLength(1);
    const container = jobs[0]!.spec.template.spec.containers[0]!;
    expect(container.args).toEqual(['db', 'migrate', 'apply']);
    expect(container.env?.map((e) => e.name)).toContain('DATABASE_URL');
  });

  it('runs a node agent on every GPU node, reporting to the gpu-agent service with a key from the Secret', () => {
    const [daemonSet] = ofKind<{
      metadata: { labels: Record<string, string> };
      spec: { template: { spec: Record<string, unknown> } };
    }>('DaemonSet', all);
    const pod = daemonSet!.spec.template.spec;
    expect(pod.runtimeClassName).toBe('nvidia');
    expect(JSON.stringify(pod.nodeSelector)).toContain('nvidia.com/gpu');
    expect(pod.tolerations).toContainEqual(expect.objectContaining({ key: 'nvidia.com/gpu' }));
    const container = (
      pod.containers as {
        args: string[];
        env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { key: string } } }[];
      }[]
    )[0]!;
    expect(container.args).toEqual(['agent']);
    const env = Object.fromEntries(container.env.map((e) => [e.name, e]));
    expect(env.GPU_AGENT_ENDPOINT?.value).toMatch(/^http:\/\/gpu-agent\..*:4006$/);
    expect(env.GPU_AGENT_API_KEY?.valueFrom?.secretKeyRef?.key).toBe('GPU_AGENT_API_KEY');
    expect(env.GPU_SOURCE?.value).toBe('nvidia-smi');
    expect(daemonSet!.metadata.labels['lotabots.dev/status']).toBeUndefined();
  });

  it('makes every variable platform/config.ts reads settable (ConfigMap, Secret or env)', () => {
    const source = readFileSync(join(root, 'platform/config.ts'), 'utf8');
    const block = source.slice(
      source.indexOf('const envSchema'),
      source.indexOf('export type Env'),
    );
    const variables = [...block.matchAll(/^\s{2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
    expect(variables.length).toBeGreaterThan(30);

    const configMap = ofKind<{ metadata: { name: string }; data: Record<string, string> }>(
      'ConfigMap',
    )[0]!;
    const secret = ofKind<{ metadata: { name: string }; stringData: Record<string, string> }>(
      'Secret',
      all.filter((e) => e.file === 'secret.example.yaml'),
    )[0]!;
    const daemonSets = ofKind<(typeof deployments)[number]>('DaemonSet', applied);
    const containers = [...deployments, ...daemonSets].flatMap(
      (d) => d.spec.template.spec.containers,
    );
    const envNames = new Set(containers.flatMap((c) => (c.env ?? []).map((e) => e.name)));
    const settable = new Set([
      ...Object.keys(configMap.data),
      ...Object.keys(secret.stringData),
      ...envNames,
    ]);
    const missing = variables.filter((v) => !settable.has(v));
    expect(missing, 'variables with no ConfigMap key, Secret key or env entry').toEqual([]);
    const unknown = Object.keys(configMap.data).filter((k) => !variables.includes(k));
    expect(unknown, 'ConfigMap keys the code does not read').toEqual([]);

    // Every container loads the ConfigMap, and every Secret reference names a key of the example.
    const jobs = ofKind<{ spec: { template: PodTemplate } }>('Job');
    for (const c of [...containers, ...jobs.flatMap((j) => j.spec.template.spec.containers)]) {
      expect(c.envFrom).toContainEqual({ configMapRef: { name: configMap.metadata.name } });
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        expect(ref.name).toBe(secret.metadata.name);
        expect(Object.keys(secret.stringData)).toContain(ref.key);
      }
    }
    // Secrets are never plain values or ConfigMap keys.
    for (const name of ['LOTABOTS_SECRET', 'DATABASE_URL', 'REDIS_URL', 'S3_SECRET_ACCESS_KEY']) {
      expect(Object.keys(configMap.data)).not.toContain(name);
      for (const c of deployments.flatMap((d) => d.spec.template.spec.containers)) {
        const entry = c.env?.find((e) => e.name === name);
        expect(entry?.valueFrom?.secretKeyRef?.key, `${c.name}: ${name}`).toBe(name);
      }
    }
    // Node agents hold an API key and nothing else: no platform secret or store credentials on GPU nodes.
    for (const c of daemonSets.flatMap((d) => d.spec.template.spec.containers)) {
      const names = (c.env ?? []).map((e) => e.name);
      for (const name of ['DATABASE_URL', 'REDIS_URL', 'S3_SECRET_ACCESS_KEY', 'LOTABOTS_SECRET']) {
        expect(names, `${c.name} must not get ${name}`).not.toContain(name);
      }
    }
    expect(configMap.data.NODE_ENV).toBe('production');
    expect(configMap.data.HOST).toBe('0.0.0.0');
    // The example holds placeholders only.
    for (const value of Object.values(secret.stringData)) {
      if (value) expect(value).toMatch(/REPLACE/);
    }
  });
});

describe('Compose file (deploy/compose.yaml)', () => {
  interface ComposeService {
    image?: string;
    build?: { context: string; dockerfile: string };
    command?: string[];
    environment?: Record<string, string>;
    depends_on?: Record<string, { condition: string }>;
  }
  const compose = parse(readFileSync(join(deployDir, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  const svc = compose.services;

  it('names the gateway, every subgraph, PostgreSQL, Redis, an S3 store and a migrate step', () => {
    for (const name of [...services, 'postgres', 'redis', 's3', 'migrate']) {
      expect(Object.keys(svc)).toContain(name);
    }
    expect(svc.postgres!.image).toMatch(/^postgres:/);
    expect(svc.redis!.image).toMatch(/^redis:/);
    expect(svc.s3!.image).toMatch(/minio/);
    expect(svc.migrate!.command).toEqual(['db', 'migrate', 'apply']);
  });

  it.each(services)(
    '%s is built from deploy/Dockerfile and starts after the migrations',
    (name) => {
      const service = svc[name]!;
      expect(service.build).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' });
      expect(service.command).toEqual(['start', name]);
      expect(service.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
      const env = service.environment!;
      expect(env.PORT).toBe(String(portOf(name)));
      expect(env.REDIS_URL).toMatch(/^redis:\/\/redis:6379/);
      expect(env.DATABASE_URL).toMatch(/@postgres:5432\//);
      expect(env.S3_ENDPOINT).toBe('http://s3:9000');
      expect(env.NODE_ENV).toBe('production');
      expect(env.HOST).toBe('0.0.0.0');
      expect(env.LOTABOTS_SECRET).toMatch(/^\$\{LOTABOTS_SECRET:\?/);
    },
  );

  it('points the gateway at identity', () => {
    expect(svc.gateway!.environment!.SUBGRAPH_IDENTITY_URL).toBe('http://identity:4001/graphql');
    expect(svc.migrate!.depends_on?.postgres).toEqual({ condition: 'service_healthy' });
  });
});

describe('Dockerfile (deploy/Dockerfile, checked as text)', () => {
  const text = readFileSync(join(deployDir, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  const final = stages.at(-1)!;

  it('is multi-stage, generates the clients at build and prunes dev dependencies', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/node scripts\/generate\.mjs/);
    expect(text).toMatch(/npm prune --omit=dev|npm ci --omit=dev/);
  });

  it('final stage: non-root, health check, production env, no install of dev dependencies', () => {
    const user = /^USER\s+(\S+)/m.exec(final)?.[1];
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(final).toMatch(/^HEALTHCHECK .*\/healthz/ms);
    expect(final).toMatch(/NODE_ENV=production/);
    expect(final).toMatch(/HOST=0\.0\.0\.0/);
    expect(final).not.toMatch(/npm (ci|install)(?![^\n]*--omit=dev)/);
    expect(final).toMatch(/COPY --from=\S+ \/app\/generated/);
    expect(final).toMatch(/^ENTRYPOINT \["node", "--import", "tsx", "bin\/lotabots\.ts"\]/m);
  });
});
