import { context, propagation, ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

let provider: NodeTracerProvider | null = null;

/**
 * OpenTelemetry tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set: spans (including the ones
 * @apollo/gateway emits for request, plan, execute and each subgraph fetch) go to that collector
 * over OTLP/HTTP. Without it nothing is registered and tracing costs nothing; W3C `traceparent`
 * propagation to subgraphs and trace ids in logs work either way. Registered once per process.
 */
export function startTracing(
  config: Config,
  logger: Logger,
): { enabled: boolean; shutdown: () => Promise<void> } {
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return { enabled: false, shutdown: () => Promise.resolve() };
  if (!provider) {
    provider = new NodeTracerProvider({ resource: new Resource({ 'service.name': 'lotabots' }) });
    provider.addSpanProcessor(
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` }),
        {
          scheduledDelayMillis: 500,
        },
      ),
    );
    provider.register();
    logger.info({ endpoint }, 'OpenTelemetry tracing enabled');
  }
  const active = provider;
  return { enabled: true, shutdown: () => active.forceFlush() };
}

/** Runs `fn` inside the trace the caller sent (`traceparent`), so our spans join it. */
export function withIncomingTrace<T>(headers: IncomingHttpHeaders, fn: () => T): T {
  if (!provider) return fn();
  const extracted: Context = propagation.extract(ROOT_CONTEXT, headers);
  return context.with(extracted, fn);
}

/** The `traceparent` of the active span, when tracing is on and a span is active. */
export function activeTraceparent(): string | null {
  if (!provider || !trace.getActiveSpan()) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}
