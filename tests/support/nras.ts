import { createHash, randomBytes, randomUUID, webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { NRAS_GPU_CHECKS, NRAS_ISSUER } from '../../subgraphs/hardware-attestation/domain/nras.ts';

/**
 * A stand-in for the NVIDIA Remote Attestation Service: local ES384 keys, a root → intermediate →
 * leaf certificate chain for the signing key, and NRAS-shaped results
 * (`[["JWT", overall], {"GPU-0": detached, …}]`) that tests can break one property at a time.
 */
export interface FakeNras {
  /** Public keys, with kid. */
  jwks: { keys: JWK[] };
  /** Root CA certificate (PEM) for x5c tests. */
  rootPem: string;
  /** NRAS-shaped response for the GPUs at these indexes; options let tests break it. */
  issue(options: IssueOptions): Promise<string>;
  /** Same, but hand-built with another algorithm for alg-confusion tests. */
  issueWithAlgorithm(alg: 'HS256' | 'none' | 'ES256', nonce: string): Promise<string>;
}

export interface FakeGpu {
  index: number;
  driverVersion: string;
  vbiosVersion: string;
  measres?: string;
  secboot?: boolean;
  dbgstat?: string;
}

export interface IssueOptions {
  nonce: string;
  gpus: FakeGpu[];
  overallResult?: boolean;
  /** Negative → already expired. */
  expiresInSeconds?: number;
  /** Override header kid. */
  kid?: string;
  /** Stranger = a key NRAS never published (same kid). */
  signWith?: 'nras' | 'stranger';
  /** Include the leaf certificate chain. */
  x5c?: boolean;
  /** Re-sign the first GPU's detached token with other claims after its digest was taken. */
  tamperDetached?: boolean;
  issuer?: string;
}

/** The issuer real NRAS tokens carry. */
export const FAKE_NRAS_ISSUER = NRAS_ISSUER;

type Sign = (claims: JWTPayload) => Promise<string>;

/** Creates fresh keys and certificates; each fake is its own NRAS with its own root. */
export async function createFakeNras(): Promise<FakeNras> {
  const x509 = await loadX509();
  const nras = await generateKeyPair('ES384', { extractable: true });
  const stranger = await generateKeyPair('ES384', { extractable: true });
  const kid = `nv-eat-kid-test-${randomBytes(6).toString('hex')}`;
  const publicJwk: JWK = { ...(await exportJWK(nras.publicKey)), kid, alg: 'ES384', use: 'sig' };

  const ecdsa = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  const notBefore = new Date(Date.now() - 86_400_000);
  const notAfter = new Date(Date.now() + 365 * 86_400_000);
  const caExtensions = () => [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
  ];
  const rootKeys = await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify']);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Fake NRAS Root CA',
    notBefore,
    notAfter,
    keys: rootKeys,
    signingAlgorithm: ecdsa,
    extensions: caExtensions(),
  });
  const intermediateKeys = await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify']);
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=Fake NRAS Intermediate CA',
    issuer: root.subject,
    notBefore,
    notAfter,
    signingKey: rootKeys.privateKey,
    publicKey: intermediateKeys.publicKey,
    signingAlgorithm: ecdsa,
    extensions: caExtensions(),
  });
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '03',
    subject: 'CN=Fake NRAS Token Signing',
    issuer: intermediate.subject,
    notBefore,
    notAfter,
    signingKey: intermediateKeys.privateKey,
    publicKey: nras.publicKey,
    signingAlgorithm: ecdsa,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  const chain = [leaf, intermediate, root].map((cert) =>
    Buffer.from(cert.rawData).toString('base64'),
  );

  const es = (key: CryptoKey, header: Record<string, unknown>, alg = 'ES384'): Sign => {
    return (claims) =>
      new SignJWT(claims).setProtectedHeader({ ...header, alg, typ: 'JWT' }).sign(key);
  };

  return {
    jwks: { keys: [publicJwk] },
    rootPem: root.toString('pem'),
    issue(options) {
      const header: Record<string, unknown> = { kid: options.kid ?? kid };
      if (options.x5c) header.x5c = chain;
      const key = options.signWith === 'stranger' ? stranger.privateKey : nras.privateKey;
      return buildResult(es(key, header), options);
    },
    async issueWithAlgorithm(alg, nonce) {
      const gpus = [{ index: 0, driverVersion: '550.54.15', vbiosVersion: '96.00.5E.00.01' }];
      if (alg === 'ES256') {
        const other = await generateKeyPair('ES256', { extractable: true });
        return buildResult(es(other.privateKey, { kid }, 'ES256'), { nonce, gpus });
      }
      if (alg === 'HS256') {
        // The classic confusion: a verifier that lets the token pick HMAC would use the published
        // key's bytes as the secret, which anyone can do.
        const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
        const sign: Sign = (claims) =>
          new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid }).sign(secret);
        return buildResult(sign, { nonce, gpus });
      }
      const unsecured: Sign = (claims) => {
        const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
        return Promise.resolve(`${part({ alg: 'none', typ: 'JWT', kid })}.${part(claims)}.`);
      };
      return buildResult(unsecured, { nonce, gpus });
    },
  };
}

async function buildResult(sign: Sign, options: IssueOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + (options.expiresInSeconds ?? 3600);
  const iat = Math.min(now, exp - 300);
  const iss = options.issuer ?? FAKE_NRAS_ISSUER;
  const common = { iss, iat, nbf: iat, exp, eat_nonce: options.nonce };

  const detached: [string, string][] = [];
  const submods: Record<string, [string, [string, string]]> = {};
  for (const [i, gpu] of options.gpus.entries()) {
    const key = `GPU-${gpu.index}`;
    const claims = gpuClaims(gpu, common);
    let token = await sign(claims);
    submods[key] = ['DIGEST', ['SHA256', createHash('sha256').update(token).digest('hex')]];
    if (options.tamperDetached && i === 0) {
      token = await sign({ ...claims, measres: 'success', 'x-nvidia-gpu-driver-version': '999.0' });
    }
    detached.push([key, token]);
  }
  const overall = await sign({
    ...common,
    jti: randomUUID(),
    'x-nvidia-overall-att-result': options.overallResult ?? true,
    'x-nvidia-ver': '2.0',
    submods,
  });
  return JSON.stringify([['JWT', overall], Object.fromEntries(detached)]);
}

function gpuClaims(gpu: FakeGpu, common: JWTPayload): JWTPayload {
  const claims: JWTPayload = {
    ...common,
    jti: randomUUID(),
    hwmodel: 'GH100 A01 GSP BROM',
    ueid: BigInt(`0x${randomBytes(12).toString('hex')}`).toString(10),
    oemid: '5703',
    measres: gpu.measres ?? 'success',
    secboot: gpu.secboot ?? true,
    dbgstat: gpu.dbgstat ?? 'disabled',
    'x-nvidia-gpu-driver-version': gpu.driverVersion,
    'x-nvidia-gpu-vbios-version': gpu.vbiosVersion,
  };
  for (const check of NRAS_GPU_CHECKS) claims[`x-nvidia-gpu-${check}`] = true;
  return claims;
}

/**
 * @peculiar/x509 resolves its algorithms through tsyringe, which insists on a Reflect metadata
 * polyfill at import time. Nothing in its code path uses decorator metadata beyond an empty
 * lookup, so a minimal in-memory implementation is installed before the import instead of adding
 * a dependency.
 */
async function loadX509(): Promise<typeof X509> {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata !== 'function') {
    const store = new WeakMap<object, Map<unknown, unknown>>();
    const own = (key: unknown, target: object) => store.get(target)?.get(key);
    reflect.defineMetadata = (key: unknown, value: unknown, target: object) => {
      const map = store.get(target) ?? new Map<unknown, unknown>();
      map.set(key, value);
      store.set(target, map);
    };
    reflect.getOwnMetadata = own;
    reflect.getMetadata = (key: unknown, target: object) => {
      for (let o: object | null = target; o; o = Object.getPrototypeOf(o) as object | null) {
        const value = own(key, o);
        if (value !== undefined) return value;
      }
      return undefined;
    };
  }
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  return x509;
}
