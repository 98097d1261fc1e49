import { describe, expect, it } from 'vitest';
import type { Finding } from '../../../subgraphs/model-attestation/domain/scan/findings.ts';
import {
  judgeGlobal,
  scanPickle,
} from '../../../subgraphs/model-attestation/domain/scan/pickle.ts';
import {
  offsetOfOp,
  op,
  pickleCall,
  pickleOf,
  torchStateDictPickle,
  type PickleOp,
} from '../../support/model-artifacts.ts';

const PATH = 'model/evil.pkl';

function codes(findings: Finding[]): string[] {
  return findings.map((f) => `${f.severity} ${f.code}`);
}

describe('scanPickle', () => {
  it('passes a torch state-dict pickle (OrderedDict, _rebuild_tensor_v2, BINPERSID storages)', () => {
    const bytes = torchStateDictPickle([
      { name: 'layer.weight', shape: [2, 3] },
      { name: 'layer.bias', shape: [3] },
    ]);
    const result = scanPickle(bytes, PATH);
    expect(result.findings).toEqual([]);
    expect(result.globals).toEqual([
      'collections.OrderedDict',
      'torch._utils._rebuild_tensor_v2',
      'torch.FloatStorage',
    ]);
  });

  it('knows the argument encoding of every opcode of protocols 0–5', () => {
    const ops: PickleOp[] = [
      op.proto(5),
      op.mark(),
      op.int(5),
      op.binint(-7),
      op.binint1(3),
      op.binint2(999),
      op.long(12345678901234567890n),
      op.long1(-300n),
      op.long4(2n ** 70n),
      op.float(1.5),
      op.binfloat(2.25),
      op.none(),
      op.newtrue(),
      op.newfalse(),
      op.string("'a\\x41\\n'"),
      op.binstring('bs'),
      op.shortBinstring('sbs'),
      op.unicode('u\\u00e9'),
      op.shortBinunicode('é'),
      op.binunicode('bu'),
      op.binunicode8('bu8'),
      op.binbytes(Buffer.from('b\n\n')),
      op.shortBinbytes(Buffer.from('sb')),
      op.binbytes8(Buffer.from('b8')),
      op.bytearray8(Buffer.from('ba')),
      op.nextBuffer(),
      op.readonlyBuffer(),
      op.emptyTuple(),
      op.mark(),
      op.none(),
      op.tuple(),
      op.none(),
      op.tuple1(),
      op.none(),
      op.none(),
      op.tuple2(),
      op.none(),
      op.none(),
      op.none(),
      op.tuple3(),
      op.emptyList(),
      op.none(),
      op.append(),
      op.mark(),
      op.none(),
      op.appends(),
      op.mark(),
      op.none(),
      op.list(),
      op.emptyDict(),
      op.none(),
      op.none(),
      op.setitem(),
      op.mark(),
      op.none(),
      op.none(),
      op.setitems(),
      op.mark(),
      op.dict(),
      op.emptySet(),
      op.mark(),
      op.none(),
      op.additems(),
      op.mark(),
      op.none(),
      op.frozenset(),
      op.none(),
      op.pop(),
      op.mark(),
      op.popMark(),
      op.none(),
      op.dup(),
      op.put(1),
      op.binput(2),
      op.longBinput(3),
      op.memoize(),
      op.get(1),
      op.binget(2),
      op.longBinget(3),
      op.global('collections', 'OrderedDict'),
      op.emptyTuple(),
      op.reduce(),
      op.emptyDict(),
      op.build(),
      op.global('collections', 'OrderedDict'),
      op.emptyTuple(),
      op.newobj(),
      op.global('collections', 'OrderedDict'),
      op.emptyTuple(),
      op.emptyDict(),
      op.newobjEx(),
      op.mark(),
      op.global('collections', 'OrderedDict'),
      op.obj(),
      op.mark(),
      op.inst('collections', 'OrderedDict'),
      op.persid('p1'),
      op.none(),
      op.binpersid(),
      op.tuple(),
      op.stop(),
    ];
    const body = pickleOf(ops.slice(1));
    const framed = pickleOf([op.proto(5), op.frame(body.length), ...ops.slice(1)]);
    expect(scanPickle(pickleOf(ops), PATH).findings).toEqual([]);
    expect(scanPickle(framed, PATH).findings).toEqual([]);
  });

  it('flags os.system imported with GLOBAL as CRITICAL, at the opcode offset', () => {
    const { findings, globals } = scanPickle(pickleCall('os', 'system', ['id']), PATH);
    expect(findings).toEqual([
      {
        severity: 'CRITICAL',
        code: 'PICKLE_DANGEROUS_GLOBAL',
        message: expect.stringContaining('os.system') as string,
        path: PATH,
        offset: 2,
      },
    ]);
    expect(globals).toEqual(['os.system']);
  });

  it('flags posix.system, os.path, posixpath and nt the same way', () => {
    for (const [module, name] of [
      ['posix', 'system'],
      ['nt', 'system'],
      ['os.path', 'join'],
      ['posixpath', 'join'],
      ['subprocess', 'check_output'],
      ['socket', 'create_connection'],
      ['runpy', '_run_code'],
      ['torch.hub', 'load'],
      ['torch', 'load'],
      ['numpy', 'load'],
      ['operator', 'attrgetter'],
    ] as const) {
      const { findings } = scanPickle(pickleCall(module, name, ['x']), PATH);
      expect(codes(findings), `${module}.${name}`).toEqual(['CRITICAL PICKLE_DANGEROUS_GLOBAL']);
      expect(findings[0]?.message).toContain(`${module}.${name}`);
    }
  });

  it('flags builtins.eval imported with STACK_GLOBAL', () => {
    const ops = [
      op.proto(4),
      op.shortBinunicode('builtins'),
      op.memoize(),
      op.shortBinunicode('eval'),
      op.memoize(),
      op.stackGlobal(),
      op.memoize(),
      op.shortBinunicode('1+1'),
      op.tuple1(),
      op.reduce(),
      op.stop(),
    ];
    const { findings } = scanPickle(pickleOf(ops), PATH, { baseOffset: 100 });
    expect(findings).toEqual([
      {
        severity: 'CRITICAL',
        code: 'PICKLE_DANGEROUS_GLOBAL',
        message: expect.stringContaining('builtins.eval via STACK_GLOBAL') as string,
        path: PATH,
        offset: 100 + offsetOfOp(ops, 5),
      },
    ]);
  });

  it('resolves STACK_GLOBAL strings fetched back from the memo (BINPUT/BINGET, MEMOIZE/LONG_BINGET, PUT/GET)', () => {
    const variants: [string, PickleOp[]][] = [
      [
        'BINPUT/BINGET',
        [
          op.shortBinunicode('os'),
          op.binput(7),
          op.pop(),
          op.shortBinunicode('system'),
          op.binput(9),
          op.pop(),
          op.binget(7),
          op.binget(9),
        ],
      ],
      [
        'MEMOIZE/LONG_BINGET',
        [
          op.binunicode('os'),
          op.memoize(),
          op.pop(),
          op.binunicode('system'),
          op.memoize(),
          op.pop(),
          op.longBinget(0),
          op.longBinget(1),
        ],
      ],
      [
        'PUT/GET with a Python-style integer',
        [
          op.unicode('os'),
          op.put(10),
          op.unicode('system'),
          op.longBinput(70000),
          op.pop(),
          op.pop(),
          // GET's argument goes through Python's int(), which accepts ' 1_0' as 10.
          Buffer.from('g 1_0\n', 'latin1'),
          op.longBinget(70000),
        ],
      ],
    ];
    for (const [label, fetch] of variants) {
      const ops = [op.proto(4), ...fetch, op.stackGlobal(), op.stop()];
      const { findings } = scanPickle(pickleOf(ops), PATH);
      expect(findings, label).toEqual([
        {
          severity: 'CRITICAL',
          code: 'PICKLE_DANGEROUS_GLOBAL',
          message: expect.stringContaining('os.system') as string,
          path: PATH,
          offset: offsetOfOp(ops, ops.length - 2),
        },
      ]);
    }
  });

  it('decodes protocol 0 STRING escapes before judging a module name', () => {
    const ops = [op.string("'o\\x73'"), op.string('"sys\\164em"'), op.stackGlobal(), op.stop()];
    const { findings, globals } = scanPickle(pickleOf(ops), PATH);
    expect(globals).toEqual(['os.system']);
    expect(codes(findings)).toEqual(['CRITICAL PICKLE_DANGEROUS_GLOBAL']);
  });

  it('flags subprocess.Popen in a protocol 0 pickle (text GLOBAL)', () => {
    // What pickle.dumps(obj, protocol=0) writes for __reduce__ = (subprocess.Popen, (['ls'],)).
    const ops = [
      op.global('subprocess', 'Popen'),
      op.put(0),
      op.mark(),
      op.mark(),
      op.list(),
      op.put(1),
      op.unicode('ls'),
      op.put(2),
      op.append(),
      op.tuple(),
      op.put(3),
      op.reduce(),
      op.put(4),
      op.stop(),
    ];
    const bytes = pickleOf(ops);
    expect(bytes.toString('latin1')).toBe('csubprocess\nPopen\np0\n((lp1\nVls\np2\natp3\nRp4\n.');
    const { findings } = scanPickle(bytes, PATH);
    expect(findings).toEqual([
      {
        severity: 'CRITICAL',
        code: 'PICKLE_DANGEROUS_GLOBAL',
        message: expect.stringContaining('subprocess.Popen via GLOBAL') as string,
        path: PATH,
        offset: 0,
      },
    ]);
  });

  it('maps Python 2 module names (__builtin__.eval, commands) like the unpickler does', () => {
    const eval0 = scanPickle(pickleCall('__builtin__', 'eval', ['1']), PATH).findings;
    expect(codes(eval0)).toEqual(['CRITICAL PICKLE_DANGEROUS_GLOBAL']);
    expect(eval0[0]?.message).toContain('__builtin__.eval (builtins.eval)');
    const commands = scanPickle(pickleCall('commands', 'getoutput', ['id']), PATH).findings;
    expect(codes(commands)).toEqual(['CRITICAL PICKLE_DANGEROUS_GLOBAL']);
  });

  it('flags functools.partial as CRITICAL', () => {
    const { findings } = scanPickle(pickleCall('functools', 'partial', ['x']), PATH);
    expect(findings).toEqual([
      {
        severity: 'CRITICAL',
        code: 'PICKLE_DANGEROUS_GLOBAL',
        message: expect.stringContaining('functools.partial') as string,
        path: PATH,
        offset: 2,
      },
    ]);
  });

  it('reports an unknown global as MEDIUM and other builtins as HIGH', () => {
    expect(scanPickle(pickleCall('mypkg', 'Thing', []), PATH).findings).toEqual([
      {
        severity: 'MEDIUM',
        code: 'PICKLE_UNKNOWN_GLOBAL',
        message: expect.stringMatching(/mypkg\.Thing.*not on the allowlist/) as string,
        path: PATH,
        offset: 2,
      },
    ]);
    expect(codes(scanPickle(pickleCall('builtins', 'print', ['x']), PATH).findings)).toEqual([
      'HIGH PICKLE_RISKY_BUILTIN',
    ]);
  });

  it('flags dotted names that walk attributes to dangerous objects', () => {
    expect(judgeGlobal('torch', '_utils.os.system')?.code).toBe('PICKLE_DANGEROUS_GLOBAL');
    expect(judgeGlobal('__main__', 'os.system')?.code).toBe('PICKLE_DANGEROUS_GLOBAL');
    expect(judgeGlobal('mypkg', 'Config.code')?.code).toBe('PICKLE_UNKNOWN_GLOBAL');
    expect(judgeGlobal('collections', 'OrderedDict.__init__.__globals__')?.severity).toBe(
      'CRITICAL',
    );
    expect(judgeGlobal('torch._utils', '_rebuild_tensor_v2')).toBeNull();
    expect(judgeGlobal('torch.cuda', 'HalfStorage')).toBeNull();
    expect(judgeGlobal('numpy.core.multiarray', '_reconstruct')).toBeNull();
    expect(judgeGlobal('__builtin__', 'set')).toBeNull();
    expect(judgeGlobal('codecs', 'encode')?.code).toBe('PICKLE_UNKNOWN_GLOBAL');
  });

  it('reports STACK_GLOBAL whose module is built by a REDUCE as unresolved (HIGH)', () => {
    // _codecs.encode('os', 'latin1') is allowlisted, but its result is not a literal.
    const ops = [
      op.proto(4),
      op.global('_codecs', 'encode'),
      op.shortBinunicode('os'),
      op.shortBinunicode('latin1'),
      op.tuple2(),
      op.reduce(),
      op.shortBinunicode('system'),
      op.stackGlobal(),
      op.emptyTuple(),
      op.reduce(),
      op.stop(),
    ];
    expect(scanPickle(pickleOf(ops), PATH).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'PICKLE_UNRESOLVED_GLOBAL',
        message: expect.stringContaining('module is not a literal string') as string,
        path: PATH,
        offset: offsetOfOp(ops, 7),
      },
    ]);
  });

  it('reports EXT opcodes and calls of non-globals', () => {
    const ext = [op.proto(2), op.ext2(513), op.emptyTuple(), op.reduce(), op.stop()];
    expect(scanPickle(pickleOf(ext), PATH).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'PICKLE_EXTENSION_CODE',
        message: expect.stringContaining('513') as string,
        path: PATH,
        offset: 2,
      },
    ]);
    const indirect = [op.proto(2), op.binunicode('x'), op.emptyTuple(), op.reduce(), op.stop()];
    expect(codes(scanPickle(pickleOf(indirect), PATH).findings)).toEqual([
      'MEDIUM PICKLE_INDIRECT_CALL',
    ]);
  });

  it('scans a second pickle concatenated after STOP', () => {
    const first = torchStateDictPickle([{ name: 'w', shape: [2] }]);
    const bytes = Buffer.concat([first, pickleCall('os', 'system', ['id'])]);
    expect(scanPickle(bytes, PATH).findings).toEqual([
      {
        severity: 'MEDIUM',
        code: 'PICKLE_TRAILING_DATA',
        message: expect.any(String) as string,
        path: PATH,
        offset: first.length,
      },
      {
        severity: 'CRITICAL',
        code: 'PICKLE_DANGEROUS_GLOBAL',
        message: expect.stringContaining('os.system') as string,
        path: PATH,
        offset: first.length + 2,
      },
    ]);
  });

  it('reports a truncated pickle as PICKLE_MALFORMED at the opcode whose argument is cut', () => {
    const ops = [
      op.proto(2),
      op.global('collections', 'OrderedDict'),
      op.emptyTuple(),
      op.reduce(),
      op.binunicode('a long key that gets cut'),
      op.binint1(1),
      op.setitem(),
      op.stop(),
    ];
    const cutAt = offsetOfOp(ops, 4) + 10;
    expect(scanPickle(pickleOf(ops).subarray(0, cutAt), PATH).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'PICKLE_MALFORMED',
        message: expect.stringContaining('truncated') as string,
        path: PATH,
        offset: offsetOfOp(ops, 4),
      },
    ]);
    const noStop = pickleOf(ops.slice(0, -1));
    expect(scanPickle(noStop, PATH).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'PICKLE_MALFORMED',
        message: expect.stringContaining('without STOP') as string,
        path: PATH,
        offset: noStop.length,
      },
    ]);
  });

  it('reports unknown opcodes and impossible stack operations', () => {
    const unknown = pickleOf([op.proto(2), op.none(), Buffer.from([0xff]), op.stop()]);
    expect(scanPickle(unknown, PATH).findings).toMatchObject([
      {
        severity: 'HIGH',
        code: 'PICKLE_MALFORMED',
        offset: 3,
        message: expect.stringContaining('0xff') as string,
      },
    ]);
    const underflow = pickleOf([op.proto(2), op.reduce(), op.stop()]);
    expect(scanPickle(underflow, PATH).findings).toMatchObject([
      { severity: 'HIGH', code: 'PICKLE_MALFORMED', offset: 2 },
    ]);
    const badProto = pickleOf([op.proto(9), op.none(), op.stop()]);
    expect(codes(scanPickle(badProto, PATH).findings)).toEqual(['HIGH PICKLE_MALFORMED']);
  });

  it('stops at the opcode cap with SCAN_LIMIT_EXCEEDED', () => {
    const ops = [op.proto(2), ...Array.from({ length: 50 }, () => op.none()), op.stop()];
    expect(scanPickle(pickleOf(ops), PATH, { maxOps: 10 }).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'SCAN_LIMIT_EXCEEDED',
        message: expect.stringContaining('10 opcodes') as string,
        path: PATH,
        offset: offsetOfOp(ops, 10),
      },
    ]);
  });
});
