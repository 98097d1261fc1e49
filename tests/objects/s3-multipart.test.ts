import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  S3ServiceException,
  type CompleteMultipartUploadCommandInput,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import {
  MultipartUploadError,
  MultipartUploadNotFoundError,
  S3ObjectStore,
} from '../../platform/objects/index.ts';
import { MIN_PART_BYTES } from '../../platform/objects/keys.ts';
import { testConfig } from '../support/config.ts';

// What the S3 store does around multipart uploads and ranged reads when the server behaves like
// AWS (ListParts, NoSuchUpload, InvalidPart) or like a sloppy S3-compatible server. The CI server
// (s3rver) lacks ListParts and AbortMultipartUpload, so these paths are driven through a fake
// `client.send` here; object-store.test.ts covers the real round trip.
describe('S3 store against a scripted S3 API', () => {
  const config = testConfig({
    S3_BUCKET: 'unit-bucket',
    S3_ENDPOINT: 'http://127.0.0.1:9',
    S3_REGION: 'us-east-1',
    S3_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    S3_SECRET_ACCESS_KEY: 'secret',
    S3_FORCE_PATH_STYLE: 'true',
    S3_KEY_PREFIX: 'pre/',
  });
  let store: S3ObjectStore;
  let sent: { name: string; input: Record<string, unknown> }[];
  /** Parts ListParts reports, by number. */
  let uploaded: Map<number, { etag: string; size: number }>;
  let knownUpload: string;
  let completeError: S3ServiceException | undefined;
  let getAnswer: { Body: Readable; ContentRange?: string } | undefined;

  beforeEach(() => {
    store = new S3ObjectStore(config, createLogger(config));
    sent = [];
    knownUpload = 'upload-1';
    completeError = undefined;
    getAnswer = undefined;
    uploaded = new Map([
      [1, { etag: '"11111111111111111111111111111111"', size: MIN_PART_BYTES }],
      [2, { etag: '"22222222222222222222222222222222"', size: MIN_PART_BYTES }],
      [3, { etag: '"33333333333333333333333333333333"', size: 1024 }],
    ]);
    const send = (command: { input: Record<string, unknown> }): Promise<unknown> => {
      const input = command.input;
      sent.push({ name: command.constructor.name, input });
      if (input.UploadId !== undefined && input.UploadId !== knownUpload) {
        return Promise.reject(awsError('NoSuchUpload', 404));
      }
      if (command instanceof ListPartsCommand) {
        // Two pages, to check that every page is read.
        const all = [...uploaded].map(([n, p]) => ({ PartNumber: n, ETag: p.etag, Size: p.size }));
        const first = input.PartNumberMarker === undefined;
        return Promise.resolve(
          first
            ? { Parts: all.slice(0, 2), IsTruncated: all.length > 2, NextPartNumberMarker: '2' }
            : { Parts: all.slice(2), IsTruncated: false },
        );
      }
      if (command instanceof CompleteMultipartUploadCommand) {
        return completeError ? Promise.reject(completeError) : Promise.resolve({});
      }
      if (command instanceof HeadObjectCommand) {
        const size = [...uploaded.values()].reduce((sum, p) => sum + p.size, 0);
        return Promise.resolve({
          ContentLength: size,
          Metadata: { 'declared-size': String(2 * MIN_PART_BYTES + 1024), 'part-size': '5242880' },
        });
      }
      if (command instanceof DeleteObjectCommand) return Promise.resolve({});
      if (command instanceof AbortMultipartUploadCommand) return Promise.resolve({});
      if (command instanceof CreateMultipartUploadCommand) {
        return Promise.resolve({ UploadId: knownUpload });
      }
      if (command instanceof GetObjectCommand && getAnswer) return Promise.resolve(getAnswer);
      return Promise.reject(new Error(`unexpected ${command.constructor.name}`));
    };
    (store.client as unknown as { send: typeof send }).send = send;
  });

  const parts = () =>
    [...uploaded].map(([partNumber, p]) => ({ partNumber, etag: p.etag.replace(/"/g, '') }));
  const names = () => sent.map((s) => s.name);

  it('creates the upload with its declared size and signs checksum-free part URLs', async () => {
    const upload = await store.presignMultipartUpload('m/w.bin', {
      sizeBytes: 2 * MIN_PART_BYTES + 1024,
      partSize: MIN_PART_BYTES,
      contentType: 'application/x-safetensors',
    });
    expect(sent[0]).toMatchObject({
      name: 'CreateMultipartUploadCommand',
      input: {
        Bucket: 'unit-bucket',
        Key: 'pre/m/w.bin',
        ContentType: 'application/x-safetensors',
        Metadata: { 'declared-size': '10486784', 'part-size': '5242880' },
      },
    });
    expect(upload.uploadId).toBe('upload-1');
    expect(upload.parts).toHaveLength(3);
    for (const part of upload.parts) {
      const url = new URL(part.url);
      expect(url.pathname).toBe('/unit-bucket/pre/m/w.bin');
      expect(url.searchParams.get('partNumber')).toBe(String(part.partNumber));
      expect(url.searchParams.get('uploadId')).toBe('upload-1');
      // A checksum signed into the URL would make every browser PUT fail.
      expect([...url.searchParams.keys()].some((k) => /checksum/i.test(k))).toBe(false);
      expect(part.headers).toEqual({});
    }
  });

  it('completes with every ListParts page checked and the parts sorted, ETags quoted', async () => {
    await expect(
      store.completeMultipartUpload('m/w.bin', 'upload-1', parts().reverse()),
    ).resolves.toEqual({ key: 'm/w.bin', sizeBytes: 2 * MIN_PART_BYTES + 1024 });
    expect(names()).toEqual([
      'ListPartsCommand',
      'ListPartsCommand',
      'CompleteMultipartUploadCommand',
      'HeadObjectCommand',
    ]);
    const complete = sent[2]!.input as unknown as CompleteMultipartUploadCommandInput;
    expect(complete.MultipartUpload?.Parts).toEqual([
      { PartNumber: 1, ETag: '"11111111111111111111111111111111"' },
      { PartNumber: 2, ETag: '"22222222222222222222222222222222"' },
      { PartNumber: 3, ETag: '"33333333333333333333333333333333"' },
    ]);
  });

  it('names the part whose ETag does not match, before completing', async () => {
    const wrong = parts().map((p) => (p.partNumber === 2 ? { ...p, etag: 'ffff' } : p));
    await expect(store.completeMultipartUpload('m/w.bin', 'upload-1', wrong)).rejects.toMatchObject(
      {
        name: 'MultipartUploadError',
        code: 'MULTIPART_UPLOAD_INVALID',
        partNumber: 2,
        message:
          'multipart upload upload-1: part 2: ETag "ffff" does not match the uploaded part ' +
          '("22222222222222222222222222222222")',
      },
    );
    expect(names()).not.toContain('CompleteMultipartUploadCommand');
  });

  it('names a listed part that was never uploaded', async () => {
    uploaded.delete(3);
    const listed = [...parts(), { partNumber: 3, etag: 'abc' }];
    await expect(store.completeMultipartUpload('m/w.bin', 'upload-1', listed)).rejects.toThrow(
      /part 3 was not uploaded/,
    );
    expect(names()).not.toContain('CompleteMultipartUploadCommand');
  });

  it('refuses parts of unequal size (S3 would accept any size over 5 MiB)', async () => {
    uploaded.set(2, { etag: '"22222222222222222222222222222222"', size: MIN_PART_BYTES + 1 });
    await expect(store.completeMultipartUpload('m/w.bin', 'upload-1', parts())).rejects.toThrow(
      /part 2 is 5242881 bytes; parts must all be 5242880 bytes \(the last at most\)/,
    );
  });

  it('removes an assembled object whose size differs from the declared one', async () => {
    uploaded.set(3, { etag: '"33333333333333333333333333333333"', size: 1000 });
    await expect(store.completeMultipartUpload('m/w.bin', 'upload-1', parts())).rejects.toThrow(
      'multipart upload upload-1: assembled 10486760 bytes but 10486784 were declared; every ' +
        'part but the last must be exactly 5242880 bytes, the last 1024; the object was removed',
    );
    expect(sent.at(-1)).toMatchObject({
      name: 'DeleteObjectCommand',
      input: { Key: 'pre/m/w.bin' },
    });
  });

  it("maps S3's NoSuchUpload and InvalidPart to the store's errors", async () => {
    await expect(store.completeMultipartUpload('m/w.bin', 'gone', parts())).rejects.toBeInstanceOf(
      MultipartUploadNotFoundError,
    );
    completeError = awsError(
      'InvalidPart',
      400,
      'One or more of the specified parts could not be found.',
    );
    const err = await store
      .completeMultipartUpload('m/w.bin', 'upload-1', parts())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MultipartUploadError);
    expect((err as Error).message).toBe(
      'multipart upload upload-1: InvalidPart: One or more of the specified parts could not be found.',
    );
  });

  it('completes unchecked when the server has no ListParts (s3rver)', async () => {
    const send = store.client.send.bind(store.client) as unknown as (
      c: unknown,
    ) => Promise<unknown>;
    (store.client as unknown as { send: typeof send }).send = (command: unknown) =>
      command instanceof ListPartsCommand
        ? Promise.reject(awsError('MethodNotAllowed', 405))
        : send(command);
    await expect(store.completeMultipartUpload('m/w.bin', 'upload-1', parts())).resolves.toEqual({
      key: 'm/w.bin',
      sizeBytes: 2 * MIN_PART_BYTES + 1024,
    });
  });

  it('aborts idempotently', async () => {
    await expect(store.abortMultipartUpload('m/w.bin', 'upload-1')).resolves.toBeUndefined();
    await expect(store.abortMultipartUpload('m/w.bin', 'gone')).resolves.toBeUndefined();
    expect(sent.map((s) => s.input.UploadId)).toEqual(['upload-1', 'gone']);
  });

  describe('ranged reads from servers that answer a range loosely', () => {
    const object = randomBytes(1000);
    const read = async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of await store.getRange('m/r.bin', 100, 200))
        chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };

    it('passes an exact answer through', async () => {
      getAnswer = {
        Body: Readable.from([object.subarray(100, 200)]),
        ContentRange: 'bytes 100-199/1000',
      };
      expect(await read()).toEqual(object.subarray(100, 200));
      expect(sent[0]?.input.Range).toBe('bytes=100-199');
    });

    it('cuts the whole object when the Range header was ignored', async () => {
      getAnswer = { Body: Readable.from([object.subarray(0, 150), object.subarray(150)]) };
      expect(await read()).toEqual(object.subarray(100, 200));
    });

    it('cuts an answer that runs past the end asked for', async () => {
      getAnswer = {
        Body: Readable.from([object.subarray(100)]),
        ContentRange: 'bytes 100-999/1000',
      };
      expect(await read()).toEqual(object.subarray(100, 200));
    });

    it('reads nothing when the server says the object is shorter than the start', async () => {
      getAnswer = { Body: Readable.from([Buffer.alloc(0)]), ContentRange: 'bytes 0-0/0' };
      expect(await read()).toEqual(Buffer.alloc(0));
    });
  });
});

function awsError(name: string, status: number, message = name): S3ServiceException {
  return new S3ServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}
