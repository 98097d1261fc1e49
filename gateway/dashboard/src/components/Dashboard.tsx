import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  AttestGpuDocument,
  AttestationUpdatesDocument,
  FleetDocument,
  FleetTelemetryDocument,
  RecentAttestationsDocument,
  QuotaDocument,
  type FeedItemFragment,
  type GpuLiveFragment,
  type QuotaQuery,
} from '../../../../generated/graphql/dashboard/operations.ts';
import { ApiError, execute, onRateLimitSample, type RateLimitSample } from '../api/client.ts';
import { LiveLink, type LinkState } from '../api/live.ts';
import { canOperate, type Session, type SessionManager } from '../api/session.ts';
import { upsertAttestation } from '../state/feed.ts';
import { applyTelemetry, type FleetNode } from '../state/fleet.ts';
import { AttestationDetail } from './AttestationDetail.tsx';
import { AttestationFeed } from './AttestationFeed.tsx';
import { ConnectionStatus } from './ConnectionStatus.tsx';
import { Fleet } from './Fleet.tsx';
import { QuotaPanel } from './QuotaPanel.tsx';
import { RateLimitChart } from './RateLimitChart.tsx';

/** Rate-limit samples kept for the chart. */
const SAMPLES = 60;
/** How often quotas (and with them the rate-limit reading) are read when nothing else changes. */
const QUOTA_POLL_MS = 15_000;

type Limits = NonNullable<QuotaQuery['organization']>['quota']['limits'];

function message(error: unknown): string {
  if (error instanceof ApiError && error.code === 'RATE_LIMITED' && error.retryAfterSeconds) {
    return `${error.message} (retry in ${error.retryAfterSeconds} s)`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The signed-in page: fleet, attestation feed and usage, all kept live over one connection. */
export function Dashboard({ sessions, session }: { sessions: SessionManager; session: Session }) {
  const [nodes, setNodes] = useState<FleetNode[] | null>(null);
  const [feed, setFeed] = useState<FeedItemFragment[] | null>(null);
  const [samples, setSamples] = useState<RateLimitSample[]>([]);
  const [limits, setLimits] = useState<Limits | null>(null);
  const [link, setLink] = useState<LinkState>({
    phase: 'connecting',
    attempt: 0,
    retryAt: null,
    reconnects: 0,
    lastCloseReason: null,
  });
  const [problems, setProblems] = useState<string[]>([]);
  const [attesting, setAttesting] = useState<ReadonlySet<string>>(new Set());
  const [openId, setOpenId] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const opener = useRef<HTMLElement | null>(null);
  const linkRef = useRef<LiveLink | null>(null);

  const token = useCallback(() => sessions.current?.accessToken ?? null, [sessions]);
  const report = useCallback((problem: string) => {
    setProblems((list) => [...list.slice(-2), problem]);
  }, []);

  // The initial state over HTTP; also after a reconnect, for what happened while cut off.
  const load = useCallback(() => {
    execute(FleetDocument, {}, token())
      .then(({ gpuNodes }) => setNodes(gpuNodes))
      .catch((e: unknown) => report(`Could not load nodes: ${message(e)}`));
    execute(RecentAttestationsDocument, { first: 20 }, token())
      .then(({ hardwareAttestations }) =>
        setFeed((current) =>
          hardwareAttestations.edges.reduce(
            (list, edge) => upsertAttestation(list, edge.node),
            current ?? [],
          ),
        ),
      )
      .catch((e: unknown) => report(`Could not load attestations: ${message(e)}`));
  }, [token, report]);

  const readQuota = useCallback(
    () =>
      void execute(QuotaDocument, {}, token())
        .then(({ organization }) => setLimits(organization?.quota.limits ?? []))
        .catch((e: unknown) => report(`Quotas: ${message(e)}`)),
    [token, report],
  );
  // A finished attestation changes the quota standing: read it again, once per burst of events.
  const quotaTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const quotaSoon = useCallback(() => {
    if (quotaTimer.current) return;
    quotaTimer.current = setTimeout(() => {
      quotaTimer.current = null;
      readQuota();
    }, 500);
  }, [readQuota]);

  useEffect(() => {
    const link = new LiveLink(token, setLink, load);
    linkRef.current = link;
    load();
    const stopTelemetry = link.subscribe(
      FleetTelemetryDocument,
      {},
      ({ gpuTelemetry }) => setNodes((list) => applyTelemetry(list ?? [], gpuTelemetry)),
      (problem) => report(`Telemetry: ${problem}`),
    );
    const stopFeed = link.subscribe(
      AttestationUpdatesDocument,
      {},
      ({ hardwareAttestationUpdated }) => {
        setFeed((list) => upsertAttestation(list ?? [], hardwareAttestationUpdated));
        quotaSoon();
      },
      (problem) => report(`Attestation feed: ${problem}`),
    );
    return () => {
      stopTelemetry();
      stopFeed();
      link.dispose();
      linkRef.current = null;
    };
  }, [token, load, report, quotaSoon]);

  // A refreshed token goes to the open connection so its subscriptions outlive the old token.
  useEffect(() => {
    linkRef.current?.renewToken(session.accessToken);
  }, [session.accessToken]);

  useEffect(() => {
    const stop = onRateLimitSample((sample) =>
      setSamples((list) => [...list, sample].slice(-SAMPLES)),
    );
    readQuota();
    const timer = setInterval(readQuota, QUOTA_POLL_MS);
    const clock = setInterval(() => setNow(Date.now()), 1_000);
    return () => {
      stop();
      clearInterval(timer);
      clearInterval(clock);
    };
  }, [readQuota]);

  const attest = useCallback(
    (gpu: GpuLiveFragment) => {
      setAttesting((set) => new Set(set).add(gpu.uuid));
      execute(AttestGpuDocument, { input: { gpuUuid: gpu.uuid } }, token())
        .then(({ submitHardwareAttestation }) =>
          setFeed((list) => upsertAttestation(list ?? [], submitHardwareAttestation)),
        )
        .catch((e: unknown) => report(`Attestation of GPU ${gpu.index} refused: ${message(e)}`))
        .finally(() =>
          setAttesting((set) => {
            const next = new Set(set);
            next.delete(gpu.uuid);
            return next;
          }),
        );
    },
    [token, report],
  );

  const open = (id: string) => {
    opener.current = document.activeElement as HTMLElement | null;
    setOpenId(id);
  };
  const close = () => {
    setOpenId(null);
    opener.current?.focus();
  };

  return (
    <div class="shell">
      <header class="topbar">
        <h1>LotaBots</h1>
        <span class="org">
          {session.organization.name} <span class="tag">{session.organization.tier}</span>
        </span>
        <ConnectionStatus state={link} now={now} />
        <span class="muted user">
          {session.user.email} · {session.role}
        </span>
        <button type="button" class="secondary" onClick={() => void sessions.logout()}>
          Sign out
        </button>
      </header>
      {problems.length > 0 ? (
        <div role="alert" class="problems">
          {problems.map((p, i) => (
            <p key={i}>{p}</p>
          ))}
          <button type="button" class="secondary" onClick={() => setProblems([])}>
            Dismiss
          </button>
        </div>
      ) : null}
      <main class="grid">
        <Fleet
          nodes={nodes}
          now={now}
          attesting={attesting}
          {...(canOperate(session) ? { onAttest: attest } : {})}
        />
        <div class="side">
          <AttestationFeed items={feed} onOpen={open} />
          <QuotaPanel limits={limits} />
          <RateLimitChart samples={samples} />
        </div>
      </main>
      {openId ? (
        <AttestationDetail
          id={openId}
          status={feed?.find((f) => f.id === openId)?.status ?? null}
          accessToken={token}
          onClose={close}
        />
      ) : null}
    </div>
  );
}
