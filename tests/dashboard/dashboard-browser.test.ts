import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  chromium,
  type Browser,
  type Page,
  type Request,
  type WebSocketRoute,
} from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitAttestation } from '../support/attestation.ts';
import { artifactPath, browserRequired, chromiumPath } from '../support/browser.ts';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import {
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';
import { waitUntil } from '../support/wait.ts';

/**
 * The live dashboard in real headless Chromium against the whole supergraph: sign-in, the fleet
 * from gpuTelemetry, the attestation feed from hardwareAttestationUpdated, the detail view, token
 * refresh over a kept connection, reconnect after a drop, and an axe accessibility scan.
 */

const executablePath = chromiumPath();
if (!executablePath && browserRequired) {
  throw new Error('CI needs Debian chromium for the dashboard suite (apt-get install chromium)');
}
if (!executablePath) {
  console.warn('dashboard browser suite skipped: no chromium (apt-get install chromium)');
}

/** Short enough that the suite sees at least one refresh, long enough not to race the login. */
const ACCESS_TOKEN_TTL_SECONDS = 20;

let supergraph: TestSupergraph;
let tenant: SignedUp;
let operatorKey: string;
let node: SimulatedNode;
let otherTenantNode: SimulatedNode;
let browser: Browser;
let page: Page;
let loggedInAt = 0;
const pageErrors: string[] = [];
const graphqlRequests: Request[] = [];
const sockets: { page: WebSocketRoute; server: WebSocketRoute }[] = [];

function operationsSent(name: string): number {
  return graphqlRequests.filter((r) => r.postData()?.includes(name)).length;
}

function gpuCard(uuid: string) {
  return page.locator(`[data-gpu-uuid="${uuid}"]`);
}

async function meterValue(uuid: string, label: string): Promise<number> {
  const value = await gpuCard(uuid)
    .getByRole('meter', { name: label })
    .getAttribute('aria-valuenow');
  return Number(value);
}

describe.skipIf(!executablePath)('live dashboard in headless Chromium', () => {
  beforeAll(async () => {
    supergraph = await startTestSupergraph({
      ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS),
    });
    const other = await signUp(supergraph, 'dash-other');
    tenant = await signUp(supergraph, 'dash');
    operatorKey = await createApiKey(supergraph, tenant.accessToken, 'OPERATOR');
    const otherKey = await createApiKey(supergraph, other.accessToken, 'OPERATOR');
    node = await enrollSimulatedNode(supergraph, operatorKey, 'dash-node-1', [
      {
        model: 'H100-80GB',
        migEnabled: true,
        migInstances: ['3g.40gb', '1g.10gb'],
        confidentialComputeMode: 'ON',
      },
      { model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' },
    ]);
    otherTenantNode = await enrollSimulatedNode(supergraph, otherKey, 'other-tenant-node', [
      { model: 'A100-80GB', migEnabled: false },
    ]);

    browser = await chromium.launch({
      executablePath: executablePath ?? '',
      // Root in CI containers: Chromium's sandbox needs user namespaces it does not get there.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    page.on('request', (request) => {
      if (request.url().endsWith('/graphql') && request.method() === 'POST') {
        graphqlRequests.push(request);
      }
    });
    // Every WebSocket the page opens is passed through to the real gateway untouched; the test
    // keeps hold of it only to cut the connection later, as a network drop would.
    await page.routeWebSocket(/\/graphql$/, (ws) => {
      sockets.push({ page: ws, server: ws.connectToServer() });
    });
  });

  afterAll(async () => {
    await browser?.close();
    await node?.agent.stop();
    await otherTenantNode?.agent.stop();
    await supergraph?.stop();
  });

  it('refuses a wrong password with a clear message, then signs in and shows only its own fleet', async () => {
    await page.goto(`${supergraph.baseUrl}/dashboard`);
    expect(new URL(page.url()).pathname).toBe('/dashboard/');

    await page.getByLabel('Email').fill(tenant.email);
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText(page.getByRole('alert'), /invalid email or password/i);
    // The browser logs the refused login's HTTP 401; every other page error fails the suite.
    pageErrors.length = 0;

    await page.getByLabel('Password').fill(tenant.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'dash-node-1' }).waitFor();
    loggedInAt = Date.now();
    await page.evaluate(() => {
      (globalThis as unknown as { sameDocument: boolean }).sameDocument = true;
    });

    await expectText(page.getByRole('status').first(), 'Live');
    await expect(page.getByRole('heading', { name: 'other-tenant-node' }).count()).resolves.toBe(0);
    const [migGpu, wholeGpu] = node.source.gpuUuids;
    await expect(gpuCard(migGpu!).getByRole('img').getAttribute('aria-label')).resolves.toMatch(
      /3g\.40gb .*1g\.10gb|1g\.10gb .*3g\.40gb/,
    );
    await gpuCard(wholeGpu!).getByText('MIG off').waitFor();
    await expect(page.getByText(`${tenant.organization.name}`).count()).resolves.toBeGreaterThan(0);
  });

  it('moves the gauges when the node reports new telemetry, without a reload', async () => {
    const uuid = node.source.gpuUuids[1]!;
    const before = await meterValue(uuid, 'Memory');
    const process = node.source.runProcess(uuid, null, {
      usedMemoryMiB: 40_000,
      utilizationPercent: 90,
    });
    await waitUntil(async () => (await meterValue(uuid, 'Memory')) >= before + 40_000, 10_000);
    await waitUntil(async () => (await meterValue(uuid, 'Utilization')) > 50, 10_000);
    node.source.stopProcess(process.pid);
    await waitUntil(async () => (await meterValue(uuid, 'Memory')) < before + 40_000, 10_000);
    expect(operationsSent('query Fleet')).toBe(1);
  });

  it('shows attestations submitted from the page and from the API as their status changes', async () => {
    const migGpu = node.source.gpuUuids[0];
    await page.getByRole('button', { name: 'Attest dash-node-1 GPU 1' }).click();
    const fromPage = page.locator('li[data-attestation-id]').filter({ hasText: 'GPU 1' });
    await waitForFinal(fromPage.first());
    expect(await fromPage.first().getAttribute('data-status')).toBe('VERIFIED');
    await expectText(fromPage.first(), /VERIFIED · AFFIRMING/);

    const submitted = await submitAttestation(supergraph, operatorKey, { gpuUuid: migGpu });
    const fromApi = page.locator(`li[data-attestation-id="${submitted.id}"]`);
    await fromApi.waitFor({ timeout: 10_000 });
    await waitForFinal(fromApi);
    // The quota gauges follow: both submissions count against today's attestations.
    const today = page
      .getByRole('region', { name: 'Quotas' })
      .getByRole('meter', { name: 'Attestations today' });
    await waitUntil(async () => Number(await today.getAttribute('aria-valuenow')) >= 2, 10_000);
    // Pushed over the subscription: the page loaded the feed once and never reloaded.
    expect(operationsSent('query RecentAttestations')).toBe(1);
    expect(
      await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument),
    ).toBe(true);
    await page.screenshot({ path: artifactPath('dashboard.png') });
  });

  it('opens an attestation with its claims, signed token and report, verifies it, and closes with Escape', async () => {
    const first = page.locator('li[data-attestation-id]').first();
    const openedId = await first.getAttribute('data-attestation-id');
    const item = first.getByRole('button');
    await item.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.getByRole('table').waitFor();
    expect(await dialog.getByRole('row').count()).toBeGreaterThan(5);
    const token = await dialog.getByLabel('Token').inputValue();
    expect(token.split('.')).toHaveLength(3);

    await dialog.getByRole('button', { name: 'Verify signature' }).click();
    await expectText(dialog.getByRole('status'), /Signature valid/);

    const reportUrl = await dialog
      .getByRole('link', { name: /signed report/ })
      .getAttribute('href');
    expect(reportUrl).toBeTruthy();
    const report = await page.request.get(reportUrl!);
    expect(report.status()).toBe(200);
    await page.screenshot({ path: artifactPath('dashboard-detail.png') });

    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    // Focus returns to the item that opened the dialog, so keyboard users keep their place.
    const focusedId = await page.evaluate(
      "document.activeElement?.closest('li')?.getAttribute('data-attestation-id') ?? null",
    );
    expect(focusedId).toBe(openedId);
  });

  it('has no serious or critical accessibility violations (axe, WCAG 2 A/AA)', async () => {
    // Evaluated over the DevTools protocol: the page's CSP (script-src 'self') rightly refuses an
    // injected <script>, and the scan must run on the page exactly as users get it.
    const require = createRequire(import.meta.url);
    await page.evaluate(readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
    const violations = await page.evaluate(async () => {
      const axe = (globalThis as unknown as { axe: { run: (o: unknown) => Promise<AxeResult> } })
        .axe;
      const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes)`);
    });
    expect(violations).toEqual([]);
  });

  it('refreshes its access token before expiry and keeps the same live connection', async () => {
    const expiresAt = loggedInAt + ACCESS_TOKEN_TTL_SECONDS * 1000;
    await page.waitForRequest((r) => r.postData()?.includes('mutation RefreshSession') ?? false, {
      timeout: ACCESS_TOKEN_TTL_SECONDS * 1000,
    });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 2000)));
    // Past the first token's expiry: the gateway would have closed the connection (4403) had the
    // page not handed it the refreshed token.
    const uuid = node.source.gpuUuids[1]!;
    const process = node.source.runProcess(uuid, null, { usedMemoryMiB: 30_000 });
    await waitUntil(async () => (await meterValue(uuid, 'Memory')) >= 30_000, 10_000);
    node.source.stopProcess(process.pid);
    const status = page.locator('[data-phase]');
    expect(await status.getAttribute('data-phase')).toBe('live');
    expect(await status.getAttribute('data-reconnects')).toBe('0');
    expect(sockets).toHaveLength(1);
  });

  it('shows the drop, reconnects with backoff, and catches up on what it missed', async () => {
    const status = page.locator('[data-phase]');
    // Events published while the page is cut off are not replayed by the subscription; the page
    // fetches the feed again once it is back.
    const [first] = sockets;
    await first!.server.close({ code: 1001, reason: 'going away' });
    await first!.page.close({ code: 1012, reason: 'service restart' });
    await waitUntil(async () => (await status.getAttribute('data-phase')) !== 'live', 5_000);
    const missed = await submitAttestation(supergraph, operatorKey, {
      gpuUuid: node.source.gpuUuids[1],
    });
    await waitUntil(async () => (await status.getAttribute('data-phase')) === 'live', 20_000);
    expect(await status.getAttribute('data-reconnects')).toBe('1');
    expect(sockets).toHaveLength(2);
    await page.locator(`li[data-attestation-id="${missed.id}"]`).waitFor({ timeout: 10_000 });
    await waitForFinal(page.locator(`li[data-attestation-id="${missed.id}"]`));
    expect(pageErrors).toEqual([]);
  });
});

interface AxeResult {
  violations: { id: string; help: string; impact: string | null; nodes: unknown[] }[];
}

async function waitForFinal(item: ReturnType<Page['locator']>): Promise<void> {
  await waitUntil(
    async () =>
      ['VERIFIED', 'FAILED', 'ERROR'].includes((await item.getAttribute('data-status')) ?? ''),
    20_000,
  );
}

async function expectText(locator: ReturnType<Page['locator']>, text: string | RegExp) {
  await locator.waitFor();
  await waitUntil(async () => {
    const content = (await locator.textContent()) ?? '';
    return typeof text === 'string' ? content.includes(text) : text.test(content);
  }, 10_000);
}
