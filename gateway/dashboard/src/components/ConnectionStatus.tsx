import type { LinkState } from '../api/live.ts';

/** The live connection's state in words, announced politely when it changes. */
export function ConnectionStatus({ state, now }: { state: LinkState; now: number }) {
  let text: string;
  switch (state.phase) {
    case 'live':
      text = 'Live';
      break;
    case 'connecting':
      text = 'Connecting…';
      break;
    case 'reconnecting': {
      const seconds = state.retryAt ? Math.max(0, Math.ceil((state.retryAt - now) / 1000)) : 0;
      text =
        seconds > 0
          ? `Reconnecting in ${seconds} s (attempt ${state.attempt})`
          : `Reconnecting (attempt ${Math.max(1, state.attempt)})…`;
      break;
    }
    case 'stopped':
      text = 'Disconnected';
      break;
  }
  return (
    <div
      class={`connection connection-${state.phase}`}
      role="status"
      aria-live="polite"
      data-phase={state.phase}
      data-reconnects={state.reconnects}
      title={state.lastCloseReason ? `Last close: ${state.lastCloseReason}` : undefined}
    >
      <span class="dot" aria-hidden="true" />
      {text}
    </div>
  );
}
