#!/usr/bin/env python3
"""minictl22: tiny SimpleRemoteEPC controller probing the LLVM 22 executors
(llvm-jitlink-executor / lli-child-target of llvm-22) on wrappers the 22 tools
never call in normal runs. Prints each call's argument and result bytes.
usage: minictl22.py <executor> <scenario>
scenarios: wrappers | memmgr | dylib | hangup_ok | hangup_err | bad_opcode | short_size | eof_midmsg | close"""
import os, struct, subprocess, sys, time
exe, scenario = sys.argv[1], sys.argv[2]
c2e_r, c2e_w = os.pipe(); e2c_r, e2c_w = os.pipe()
argv = [exe, str(c2e_r), str(e2c_w)] if 'lli-child-target' in exe else [exe, 'filedescs=%d,%d' % (c2e_r, e2c_w)]
p = subprocess.Popen(argv, pass_fds=(c2e_r, e2c_w), stderr=subprocess.PIPE)
os.close(c2e_r); os.close(e2c_w)
def rd(n):
    b = b''
    while len(b) < n:
        c = os.read(e2c_r, n - len(b))
        if not c: return b
        b += c
    return b
def recv():
    h = rd(32)
    if len(h) < 32: return None
    size, opc, seq, tag = struct.unpack('<QQQQ', h); return opc, seq, tag, rd(size - 32)
def send(opc, seq, tag, payload=b''):
    os.write(c2e_w, struct.pack('<QQQQ', 32 + len(payload), opc, seq, tag) + payload)
u64 = lambda v: struct.pack('<Q', v)
def s(x): x = x.encode() if isinstance(x, str) else x; return u64(len(x)) + x
opc, seq, tag, pl = recv(); o = 0
def g64():
    global o; v = struct.unpack_from('<Q', pl, o)[0]; o += 8; return v
def gs():
    global o; n = g64(); v = pl[o:o + n]; o += n; return v
triple = gs().decode(); page = g64(); bmap = [(gs(), gs()) for _ in range(g64())]
syms = {gs().decode(): g64() for _ in range(g64())}
print('setup: triple=%s page=%d map=%d syms=%d' % (triple, page, len(bmap), len(syms)))
SEQ = [0]
def call(name, payload, show=True):
    seq = SEQ[0]; SEQ[0] += 1
    send(3, seq, syms[name], payload); r = recv()
    if not (r and r[0] == 2 and r[1] == seq):
        print('  %s\n     args   %s\n     NO RESULT: %r' % (name.replace('__llvm_orc_', ''), payload.hex()[:200], r))
        try: rc = p.wait(timeout=5)
        except subprocess.TimeoutExpired: p.kill(); rc = 'TIMEOUT(killed)'
        print('executor died: rc=%s stderr=%r' % (rc, p.stderr.read().decode(errors='replace')[:400])); sys.exit(0)
    if show: print('  %s\n     args   %s\n     result %s (tag %d, %d bytes)' % (name.replace('__llvm_orc_', ''), payload.hex()[:200], r[3].hex()[:200], r[2], len(r[3])))
    return r[3]
MM = syms['__llvm_orc_SimpleExecutorMemoryManager_Instance']; DM = syms['__llvm_orc_SimpleExecutorDylibManager_Instance']
P = '__llvm_orc_SimpleExecutorMemoryManager_'; B = '__llvm_orc_bootstrap_'
def reserve(n):
    r = call(P + 'reserve_wrapper', u64(MM) + u64(n)); assert r[0] == 1; return struct.unpack_from('<Q', r, 1)[0]
def seg(prot, addr, size, content=b''): return bytes([prot]) + u64(addr) + u64(size) + s(content)
def init(segs, acts=b'', nacts=0): return call(P + 'initialize_wrapper', u64(MM) + u64(len(segs)) + b''.join(segs) + u64(nacts) + acts)
if scenario == 'wrappers':
    base = reserve(page)
    init([seg(7, base, page)])   # RWX, zero-filled
    code = bytes.fromhex('b82a000000c3')        # mov eax,42; ret
    call(B + 'mem_write_buffers_wrapper', u64(1) + u64(base) + s(code))
    call(B + 'run_as_void_function_wrapper', u64(base))
    call(B + 'mem_write_uint8s_wrapper', u64(1) + u64(base + 1) + bytes([43]))
    call(B + 'mem_write_uint16s_wrapper', u64(1) + u64(base + 1) + struct.pack('<H', 300))
    call(B + 'mem_write_uint32s_wrapper', u64(1) + u64(base + 1) + struct.pack('<I', 70000))
    call(B + 'mem_write_uint64s_wrapper', u64(1) + u64(base + 64) + u64(0x1122334455667788))
    call(B + 'mem_write_pointers_wrapper', u64(2) + u64(base + 72) + u64(0xdeadbeef) + u64(base + 80) + u64(base))
    call(B + 'run_as_void_function_wrapper', u64(base))
    call(B + 'mem_write_buffers_wrapper', u64(2) + u64(base + 16) + s(bytes.fromhex('8d4701c3')) + u64(base + 96) + s(b'hello\x00world\x00'))
    call(B + 'run_as_int_function_wrapper', u64(base + 16) + struct.pack('<i', 41))
    call(B + 'mem_write_buffers_wrapper', u64(1) + u64(base + 32) + s(bytes.fromhex('89f8c3')))
    call(B + 'run_as_main_wrapper', u64(base + 32) + u64(3) + s('a') + s('b') + s('c'))
    call(B + 'mem_read_uint8s_wrapper', u64(2) + u64(base) + u64(base + 1))
    call(B + 'mem_read_uint16s_wrapper', u64(1) + u64(base + 1))
    call(B + 'mem_read_uint32s_wrapper', u64(1) + u64(base + 1))
    call(B + 'mem_read_uint64s_wrapper', u64(1) + u64(base + 64))
    call(B + 'mem_read_pointers_wrapper', u64(2) + u64(base + 72) + u64(base + 80))
    call(B + 'mem_read_buffers_wrapper', u64(2) + u64(base) + u64(base + 6) + u64(base + 96) + u64(base + 96))
    call(B + 'mem_read_strings_wrapper', u64(2) + u64(base + 96) + u64(base + 102))
    call(B + 'mem_read_uint8s_wrapper', u64(0))
    print('malformed args:')
    call(P + 'reserve_wrapper', b'\x01')
    call(B + 'mem_read_uint8s_wrapper', b'\x05')
    call(B + 'mem_write_uint8s_wrapper', b'\x05')
    call(B + 'run_as_void_function_wrapper', b'')
    call(P + 'release_wrapper', u64(MM) + u64(1) + u64(base))
    os.close(c2e_w)
elif scenario == 'memmgr':
    print('one slab, two initialized regions inside it (simple-remote style):')
    base = reserve(4 * page)
    init([seg(1, base + page, 100, b'A' * 10), seg(3, base + 2 * page, 50)])
    init([seg(3, base + 3 * page, page, b'B')])
    print('overlapping region (inside the RW- part of the first one):'); init([seg(3, base + 2 * page + 8, 8)])
    print('deinitialize keys (region starts):'); call(P + 'deinitialize_wrapper', u64(MM) + u64(1) + u64(base + page))
    call(P + 'deinitialize_wrapper', u64(MM) + u64(1) + u64(base + page))
    print('deinitialize unknown / not start:'); call(P + 'deinitialize_wrapper', u64(MM) + u64(2) + u64(0x1000) + u64(base + page + 8))
    print('empty request / actions on empty:'); init([]); init([], u64(0) + s(b'') + u64(0) + s(b''), 1)
    print('content > size:'); init([seg(3, base, 2, b'xyz')])
    pass  # initialize at an unreserved address: LLVM 22 executor SIGSEGVs (memcpy before range check)
    print('finalize action that fails (EH register with bad range) and dealloc action:')
    eh = syms['llvm_orc_registerEHFrameAllocAction']; deh = syms['llvm_orc_deregisterEHFrameAllocAction']
    print('release whole slab (runs remaining dealloc actions):'); call(P + 'release_wrapper', u64(MM) + u64(1) + u64(base))
    call(P + 'release_wrapper', u64(MM) + u64(1) + u64(base))
    print('release a non-base address:'); b2 = reserve(2 * page); call(P + 'release_wrapper', u64(MM) + u64(1) + u64(b2 + page))
    print('reserve 0:'); call(P + 'reserve_wrapper', u64(MM) + u64(0))
    print('initialize without reserve on 0-size:');
    os.close(c2e_w)
elif scenario == 'dylib':
    call('__llvm_orc_SimpleExecutorDylibManager_open_wrapper', u64(DM) + s('') + u64(1))
    r = call('__llvm_orc_SimpleExecutorDylibManager_open_wrapper', u64(DM) + s('') + u64(0)); h = struct.unpack_from('<Q', r, 1)[0]
    r = call('__llvm_orc_SimpleExecutorDylibManager_open_wrapper', u64(DM) + s('') + u64(0))
    call('__llvm_orc_SimpleExecutorDylibManager_open_wrapper', u64(DM) + s('/nonexistent/libfoo.so') + u64(0))
    r = call('__llvm_orc_SimpleExecutorDylibManager_open_wrapper', u64(DM) + s('libm.so.6') + u64(0)); hm = struct.unpack_from('<Q', r, 1)[0]
    R = '__llvm_orc_SimpleExecutorDylibManager_resolve_wrapper'
    call(R, u64(h) + u64(4) + s('getpid') + b'\x00' + s('no_such_sym_xyz') + b'\x00' + s('') + b'\x00' + s('llvm_orc_registerJITLoaderGDBWrapper') + b'\x00')
    call(R, u64(h) + u64(1) + s('no_such_sym_xyz') + b'\x01')
    call(R, u64(hm) + u64(2) + s('cos') + b'\x00' + s('getpid') + b'\x00')
    call(R, u64(h) + u64(0))
    print('resolve of a required empty name (aborts LLVM 22 executor):'); sys.stdout.flush(); call(R, u64(h) + u64(1) + s('') + b'\x01')
    print('resolve with an unknown handle (0x1000) -- may crash the executor:')
    sys.stdout.flush()
    try: call(R, u64(0x1000) + u64(1) + s('getpid') + b'\x00')
    except AssertionError as e: print('   -> no result', e)
    os.close(c2e_w)
elif scenario == 'hangup_ok': send(1, 0, 0, b'\x00')
elif scenario == 'hangup_err': send(1, 0, 0, b'\x01' + s('controller says bye'))
elif scenario == 'bad_opcode': send(7, 0, 0, b'')
elif scenario == 'short_size': os.write(c2e_w, struct.pack('<QQQQ', 8, 3, 0, 0))
elif scenario == 'eof_midmsg': os.write(c2e_w, struct.pack('<QQ', 100, 3)); os.close(c2e_w)
elif scenario == 'setup_to_exec': send(0, 0, 0, b'')
elif scenario == 'close': os.close(c2e_w)
t0 = time.time()
try: rest = os.read(e2c_r, 4096)
except OSError as e: rest = repr(e).encode()
try: rc = p.wait(timeout=5)
except subprocess.TimeoutExpired: p.kill(); rc = 'TIMEOUT(killed)'
err = p.stderr.read().decode(errors='replace').strip()
print('scenario=%s executor rc=%s after %.2fs; extra bytes=%r; stderr=%r' % (scenario, rc, time.time() - t0, rest[:80], err[:300]))
