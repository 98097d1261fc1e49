import { useEffect, useRef, useState } from 'preact/hooks';
import {
  AttestationDetailDocument,
  VerifyAttestationResultDocument,
  type AttestationDetailQuery,
  type VerifyAttestationResultQuery,
} from '../../../../generated/graphql/dashboard/operations.ts';
import { execute } from '../api/client.ts';
import { readJwt } from '../api/jwt.ts';
import { formatTime } from '../format.ts';
import { VerdictChip } from './Verdict.tsx';

type Detail = NonNullable<AttestationDetailQuery['hardwareAttestation']>;
type Verification = VerifyAttestationResultQuery['verifyAttestationResult'];

interface DetailProps {
  id: string;
  /** The feed's status for this attestation: a change reloads the detail. */
  status: string | null;
  accessToken: () => string | null;
  onClose: () => void;
}

/**
 * One attestation in a modal dialog: per-check claims, the signed result token (decoded, and
 * verifiable against the gateway's published keys), and the report link.
 */
export function AttestationDetail({ id, status, accessToken, onClose }: DetailProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [verification, setVerification] = useState<Verification | null>(null);

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
  }, []);

  useEffect(() => {
    let cancelled = false;
    execute(AttestationDetailDocument, { id }, accessToken())
      .then(({ hardwareAttestation }) => {
        if (cancelled) return;
        if (!hardwareAttestation) setError('This attestation no longer exists.');
        setDetail(hardwareAttestation);
      })
      .catch((e: unknown) => {
        if (!cancelled) setError(e instanceof Error ? e.message : String(e));
      });
    return () => {
      cancelled = true;
    };
  }, [id, status, accessToken]);

  const verify = (token: string) => {
    execute(VerifyAttestationResultDocument, { token }, accessToken())
      .then(({ verifyAttestationResult }) => setVerification(verifyAttestationResult))
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };

  const decoded = detail?.token ? readJwt(detail.token) : null;
  return (
    <dialog ref={dialog} class="detail" aria-labelledby="detail-heading" onClose={onClose}>
      <header class="detail-header">
        <h2 id="detail-heading">Attestation {id.slice(0, 8)}</h2>
        <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
          Close
        </button>
      </header>
      {error ? (
        <p role="alert" class="error">
          {error}
        </p>
      ) : null}
      {!detail && !error ? <p>Loading…</p> : null}
      {detail ? (
        <div class="detail-body">
          <dl class="facts">
            <dt>Outcome</dt>
            <dd>
              <VerdictChip item={detail} />
            </dd>
            <dt>GPU</dt>
            <dd>
              {detail.gpu
                ? `${detail.gpu.node.hostname} · GPU ${detail.gpu.index} ${detail.gpu.name}`
                : detail.gpuUuid}
            </dd>
            <dt>Policy</dt>
            <dd>{detail.policy ?? '—'}</dd>
            <dt>Timing</dt>
            <dd>
              submitted {formatTime(detail.submittedAt)} · started {formatTime(detail.startedAt)} ·
              completed {formatTime(detail.completedAt)}
            </dd>
            {detail.error ? (
              <>
                <dt>Findings</dt>
                <dd class="error">{detail.error}</dd>
              </>
            ) : null}
            <dt>Report</dt>
            <dd>
              {detail.reportUrl ? (
                <a href={detail.reportUrl} target="_blank" rel="noopener noreferrer">
                  Open the signed report
                </a>
              ) : (
                'not yet written'
              )}
            </dd>
          </dl>
          <table class="claims">
            <caption>Claims ({detail.claims.length} checks)</caption>
            <thead>
              <tr>
                <th scope="col">Check</th>
                <th scope="col">Result</th>
                <th scope="col">Expected</th>
                <th scope="col">Actual</th>
              </tr>
            </thead>
            <tbody>
              {detail.claims.map((claim) => (
                <tr key={claim.name} class={claim.passed ? '' : 'claim-failed'}>
                  <th scope="row" title={claim.description}>
                    {claim.name}
                  </th>
                  <td>
                    {claim.passed ? 'passed' : 'failed'} · {claim.status}
                    {claim.reason ? <div class="muted">{claim.reason}</div> : null}
                  </td>
                  <td>{claim.expected ?? '—'}</td>
                  <td>{claim.actual ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {detail.token ? (
            <section aria-labelledby="token-heading">
              <h3 id="token-heading">Signed result (EAR JWT)</h3>
              <label for="token-text">Token</label>
              <textarea id="token-text" readOnly rows={4} value={detail.token} />
              <div class="actions">
                <button type="button" onClick={() => verify(detail.token ?? '')}>
                  Verify signature
                </button>
                <button
                  type="button"
                  class="secondary"
                  onClick={() => void navigator.clipboard?.writeText(detail.token ?? '')}
                >
                  Copy token
                </button>
              </div>
              {verification ? (
                <p role="status" class={verification.valid ? 'ok' : 'error'}>
                  {verification.valid
                    ? `Signature valid (key ${verification.kid ?? '?'}, status ${verification.status ?? '—'})`
                    : `Not valid: ${verification.reason ?? 'unknown reason'}`}
                </p>
              ) : null}
              {decoded ? (
                <details>
                  <summary>Decoded claims</summary>
                  <pre>{JSON.stringify(decoded, null, 2)}</pre>
                </details>
              ) : null}
            </section>
          ) : null}
        </div>
      ) : null}
    </dialog>
  );
}
