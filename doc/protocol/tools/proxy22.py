#!/usr/bin/env python3
"""proxy22: proxy.py plus result rewriting for LLVM 22 probes (research copy).
Extra env knobs (executor->controller Results):
  PROXY_RESULT_TAG_SEQ=N     give the Result for controller seq N a non-zero TagAddr (1)
  PROXY_EMPTY_RESULT_SEQ=N   empty the payload of the Result for controller seq N
  PROXY_RESOLVE_MISSING=none|noflags   rewrite not-found (addr 0) resolve entries to None / (0,0,0)
  PROXY_RESOLVE_FLAGS=<int>  set the flags byte of every found resolve entry
  PROXY_JUNK_RESULTS=1       append 3 junk bytes to every Result payload
  PROXY_INJECT=hangup_ok|hangup_err|unknown_tag|stray_result   after relaying the Setup, send this to the controller
    (unknown_tag: a CallWrapper seq 999 tag 0x1234; its Result is logged and not forwarded)
Man-in-the-middle 'executor' for SimpleRemoteEPC captures.
The controller launches this script as its executor. It launches the real
executor (env PROXY_REAL) with fresh pipes using the same argv convention,
relays bytes both ways, and logs every framed message to PROXY_LOG (JSON lines).
Optional fault injection via env:
  PROXY_DROP_BOOTSTRAP=name1,name2  remove these names from the Setup bootstrap symbols
  PROXY_CLOSE_AFTER=N               close both controller pipes after N executor->controller msgs
"""
import os, sys, json, struct, threading, time, subprocess

real = os.environ.get('PROXY_REAL')
logpath = os.environ.get('PROXY_LOG', 'proxy_log.jsonl')
drop = [s for s in os.environ.get('PROXY_DROP_BOOTSTRAP', '').split(',') if s]
# PROXY_ADD_BOOTSTRAP=name1,name2: add these names (fake addresses 0x1000, 0x1008, ...) to the Setup
add = [s for s in os.environ.get('PROXY_ADD_BOOTSTRAP', '').split(',') if s]
# PROXY_SETUP_TRIPLE=t, PROXY_SETUP_PAGESIZE=n, PROXY_SETUP_MAPKEY=key (adds key with a 3-byte value)
setup_edit = any(os.environ.get(k) for k in ('PROXY_SETUP_TRIPLE', 'PROXY_SETUP_PAGESIZE', 'PROXY_SETUP_MAPKEY'))
close_after = int(os.environ.get('PROXY_CLOSE_AFTER', '0'))
args = sys.argv[1:]
extra = []
if args and args[0].startswith('filedescs='):
    cin, cout = map(int, args[0].split('=')[1].split(','))
    mode = 'jitlink'; extra = args[1:]
elif len(args) >= 2 and args[0].isdigit() and args[1].isdigit():
    cin, cout = int(args[0]), int(args[1]); mode = 'lli'; extra = args[2:]
else:
    sys.stderr.write('proxy: unknown argv %r\n' % args); sys.exit(2)

r1, w1 = os.pipe()   # controller->executor (child reads r1)
r2, w2 = os.pipe()   # executor->controller (child writes w2)
if mode == 'jitlink':
    cargv = [real, 'filedescs=%d,%d' % (r1, w2)] + extra
else:
    cargv = [real, str(r1), str(w2)] + extra
child = subprocess.Popen(cargv, pass_fds=(r1, w2), close_fds=True)
os.close(r1); os.close(w2)
lock = threading.Lock()
logf = open(logpath, 'a')
t0 = time.time()
def log(**kw):
    with lock:
        kw['t'] = round(time.time() - t0, 6)
        logf.write(json.dumps(kw) + '\n'); logf.flush()
log(event='start', mode=mode, argv=sys.argv, child_argv=cargv)

def read_exact(fd, n):
    b = b''
    while len(b) < n:
        c = os.read(fd, n - len(b))
        if not c: return b
        b += c
    return b

def rewrite_setup(payload):
    # SPS: string triple, u64 pagesize, seq<(string, seq<char>)>, seq<(string, u64)>
    off = 0
    def u64():
        nonlocal off
        v = struct.unpack_from('<Q', payload, off)[0]; off += 8; return v
    def s():
        nonlocal off
        n = u64(); v = payload[off:off+n]; off += n; return v
    triple = s(); ps = u64()
    nmap = u64(); m = [(s(), s()) for _ in range(nmap)]
    nsym = u64(); syms = [(s(), u64()) for _ in range(nsym)]
    syms2 = [(k, v) for k, v in syms if k.decode() not in drop]
    syms2 += [(n.encode(), 0x1000 + 8 * i) for i, n in enumerate(add)]
    if os.environ.get('PROXY_SETUP_TRIPLE'): triple = os.environ['PROXY_SETUP_TRIPLE'].encode()
    if os.environ.get('PROXY_SETUP_PAGESIZE'): ps = int(os.environ['PROXY_SETUP_PAGESIZE'])
    if os.environ.get('PROXY_SETUP_MAPKEY'): m = m + [(os.environ['PROXY_SETUP_MAPKEY'].encode(), b'xyz')]
    out = struct.pack('<Q', len(triple)) + triple + struct.pack('<Q', ps)
    out += struct.pack('<Q', len(m))
    for k, v in m: out += struct.pack('<Q', len(k)) + k + struct.pack('<Q', len(v)) + v
    out += struct.pack('<Q', len(syms2))
    for k, v in syms2: out += struct.pack('<Q', len(k)) + k + struct.pack('<Q', v)
    return out

count = {'e2c': 0}
NAMES = {}; PEND = {}
def setup_names(payload):
    off = 0
    def u64():
        nonlocal off
        v = struct.unpack_from('<Q', payload, off)[0]; off += 8; return v
    def s():
        nonlocal off
        n = u64(); v = payload[off:off+n]; off += n; return v
    s(); u64()
    for _ in range(u64()): s(); s()
    for _ in range(u64()):
        k = s(); NAMES[u64()] = k.decode()
def rewrite_resolve(p):
    mode = os.environ.get('PROXY_RESOLVE_MISSING'); fl = os.environ.get('PROXY_RESOLVE_FLAGS')
    if not (mode or fl) or not p or p[0] != 1: return p
    n = struct.unpack_from('<Q', p, 1)[0]; o = 9; out = p[:9]
    for _ in range(n):
        if p[o] == 0: out += p[o:o+1]; o += 1; continue
        addr = struct.unpack_from('<Q', p, o+1)[0]; f, tf = p[o+9], p[o+10]; o += 11
        if addr == 0 and mode == 'none': out += b'\x00'; continue
        if addr == 0 and mode == 'noflags': f = 0
        if addr != 0 and fl is not None: f = int(fl, 0)
        out += b'\x01' + struct.pack('<QBB', addr, f, tf)
    return out + p[o:]
def pump(src, dst, direction):
    n = 0
    try:
        while True:
            hdr = read_exact(src, 32)
            if len(hdr) < 32:
                log(event='eof', dir=direction, partial=hdr.hex()); break
            size, opc, seq, tag = struct.unpack('<QQQQ', hdr)
            payload = read_exact(src, size - 32)
            if direction == 'c2e' and opc == 3 and os.environ.get('PROXY_TRUNCATE_SEQ') == str(seq):
                payload = payload[:1]
                hdr = struct.pack('<QQQQ', 32 + len(payload), opc, seq, tag)
                log(event='truncated_call', seq=seq)
            if direction == 'e2c' and opc == 0 and (drop or add or setup_edit):
                payload = rewrite_setup(payload)
                hdr = struct.pack('<QQQQ', 32 + len(payload), opc, seq, tag)
                log(event='rewrote_setup', dropped=drop, added=add)
            if opc == 0 and direction == 'e2c':
                try: setup_names(payload)
                except Exception as ex: log(event='setup_parse_error', err=str(ex))
            if opc == 3 and direction == 'c2e':
                PEND[seq] = NAMES.get(tag, '?')
            if opc == 2 and direction == 'e2c':
                nm = PEND.pop(seq, '?'); orig = payload
                if nm.endswith('resolve_wrapper'): payload = rewrite_resolve(payload)
                if os.environ.get('PROXY_EMPTY_RESULT_SEQ') == str(seq): payload = b''
                if os.environ.get('PROXY_JUNK_RESULTS'): payload = payload + b'\xaa\xbb\xcc'
                if os.environ.get('PROXY_RESULT_TAG_SEQ') == str(seq): tag = 1
                if payload != orig or tag != 0:
                    log(event='rewrote_result', seq=seq, name=nm, orig=orig.hex())
                hdr = struct.pack('<QQQQ', 32 + len(payload), opc, seq, tag)
            log(event='msg', dir=direction, size=size, opc=opc, seq=seq, tag=tag, payload=payload.hex())
            if direction == 'c2e' and opc == 2 and seq == 999 and os.environ.get('PROXY_INJECT') == 'unknown_tag':
                log(event='injected_call_answer', size=size, tag=tag, payload=payload.hex()); continue
            os.write(dst, hdr); 
            v = memoryview(payload)
            while len(v):
                k = os.write(dst, v); v = v[k:]
            if direction == 'e2c' and opc == 0 and os.environ.get('PROXY_INJECT'):
                inj = os.environ['PROXY_INJECT']
                if inj == 'hangup_ok': m = struct.pack('<QQQQ', 33, 1, 0, 0) + b'\x00'
                elif inj == 'hangup_err': m = struct.pack('<QQQQ', 32 + 1 + 8 + 3, 1, 0, 0) + b'\x01' + struct.pack('<Q', 3) + b'bye'
                elif inj == 'unknown_tag': m = struct.pack('<QQQQ', 32 + 4, 3, 999, 0x1234) + b'abcd'
                else: m = struct.pack('<QQQQ', 33, 2, 777, 0) + b'\x00'
                os.write(dst, m); log(event='injected', what=inj)
            if direction == 'e2c':
                count['e2c'] += 1
                if close_after and count['e2c'] >= close_after:
                    log(event='injected_close')
                    os.close(cin); os.close(cout); child.kill(); return
    except OSError as e:
        log(event='oserror', dir=direction, err=str(e))
    finally:
        try: os.close(dst)
        except OSError: pass

ta = threading.Thread(target=pump, args=(cin, w1, 'c2e'), daemon=True)
tb = threading.Thread(target=pump, args=(r2, cout, 'e2c'), daemon=True)
ta.start(); tb.start()
rc = child.wait()
log(event='child_exit', rc=rc)
tb.join(2)
sys.exit(rc if rc >= 0 else 128 - rc)
