#!/usr/bin/env node
// A throwaway S3-compatible server for tests and CI (s3rver, pure JavaScript, loopback only).
//
//   node scripts/s3-server.mjs [port] [bucket]
//
// Port: argv[2], else S3RVER_PORT, else 4569 (0 picks a free one). Bucket: argv[3], else
// S3RVER_BUCKET, else `lotabots-ci`. Objects live in a fresh temp dir that is removed on exit.
// Prints `ready <url>` once the bucket exists, then serves until SIGINT/SIGTERM. Point the app at
// it with S3_ENDPOINT=<url> S3_BUCKET=<bucket> S3_ACCESS_KEY_ID=S3RVER
// S3_SECRET_ACCESS_KEY=S3RVER S3_FORCE_PATH_STYLE=true.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

const port = Number(process.argv[2] ?? process.env.S3RVER_PORT ?? 4569);
const bucket = process.argv[3] ?? process.env.S3RVER_BUCKET ?? 'lotabots-ci';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(
    `s3-server: invalid port ${JSON.stringify(process.argv[2] ?? process.env.S3RVER_PORT)}`,
  );
  process.exit(2);
}
// S3 (and the SDK's validation) rejects bucket names shorter than 3 characters.
if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
  console.error(`s3-server: invalid bucket name ${JSON.stringify(bucket)}`);
  process.exit(2);
}

const directory = mkdtempSync(join(tmpdir(), 'lotabots-s3rver-'));
const server = new S3rver({
  address: '127.0.0.1',
  port,
  directory,
  silent: true,
  // Requests come to 127.0.0.1 with path-style URLs; never guess a bucket from the Host header.
  vhostBuckets: false,
  configureBuckets: [{ name: bucket, configs: [] }],
});

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    await server.close();
  } catch {
    // Already closed or never started: nothing left to release but the directory.
  }
  rmSync(directory, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
// s3rver keeps objects as files named after their keys and lets some file system errors escape
// as uncaught exceptions (a key segment over 255 bytes: ENAMETOOLONG). One odd request must not
// take the whole CI server down with it.
process.on('uncaughtException', (err) => {
  console.error(`s3-server: request failed: ${err instanceof Error ? err.message : String(err)}`);
});
process.on('SIGTERM', () => void stop(0));

try {
  const address = await server.run();
  console.log(`ready http://127.0.0.1:${address.port}`);
} catch (err) {
  console.error(`s3-server: failed to start: ${err instanceof Error ? err.message : String(err)}`);
  await stop(1);
}
