#!/usr/bin/env python3
"""One line per frame of a proxy.py log (LLVM 22 names). usage: summarize22.py LOG [SYMTAB] [--map-runtime REFLOG REFSYMTAB]
SYMTAB: llvm-jitlink --write-symtab output, to name JIT addresses (ORC runtime functions).
--map-runtime: name ORC-runtime addresses in LOG by their offset inside the ORC runtime's R-X
segment, taken from a reference capture REFLOG with its symtab (used for clang-repl, which
has no --write-symtab); only applied when the runtime's code bytes are identical."""
import json, struct, sys
sys.path.insert(0, __import__('os').path.dirname(__file__))
import decode22 as D

def load_symtab(p):
    m = {}
    for l in open(p):
        f = l.split()
        if len(f) == 2 and f[0].startswith('0x'): m[int(f[0], 16)] = f[1]
    return m

def frames(path):
    for line in open(path):
        e = json.loads(line)
        if e['event'] == 'msg': yield e

def runtime_seg(path):
    """largest R-X segment content among initialize calls: (addr, bytes)"""
    names = {}; best = None
    for e in frames(path):
        p = bytes.fromhex(e['payload'])
        if e['opc'] == 0:
            v = D.dec(D.Buf(p), D.SETUP); names = {int(a, 16): k for k, a in v[3]}
        elif e['opc'] == 3 and names.get(e['tag'], '').endswith('MemoryManager_initialize_wrapper'):
            b = D.Buf(p); D.dec(b, 'addr'); nseg = D.dec(b, 'u64')
            for _ in range(nseg):
                prot = b.take(1)[0]; addr = D.dec(b, 'u64'); size = D.dec(b, 'u64'); n = D.dec(b, 'u64'); c = b.take(n)
                if prot == 5 and (best is None or len(c) > len(best[1])): best = (addr, c)
    return best

def main():
    a = sys.argv[1:]; sym = {}
    if '--map-runtime' in a:
        i = a.index('--map-runtime'); ref, refsym = a[i+1], a[i+2]; del a[i:i+3]
        rs = load_symtab(refsym); r0 = runtime_seg(ref); t0 = runtime_seg(a[0])
        if r0 and t0 and len(r0[1]) == len(t0[1]):  # same layout (bytes differ by relocations)
            for addr, n in rs.items():
                off = addr - r0[0]
                if 0 <= off < len(r0[1]): sym[t0[0] + off] = n + '(mapped)'
            # data symbols (tags) lie outside the code segment: map relative too, by nearest layout
            for addr, n in rs.items():
                if n.endswith('_tag'):
                    sym[t0[0] + (addr - r0[0])] = n + '(mapped)'
        else:
            print('# runtime code differs; no mapping')
    if len(a) > 1: sym.update(load_symtab(a[1]))
    names = {}
    pend = {'c2e': {}, 'e2c': {}}
    def nm(x):
        return names.get(x) or sym.get(x) or hex(x)
    for e in frames(a[0]):
        p = bytes.fromhex(e['payload']); d = e['dir']; seq = e['seq']
        arrow = 'C>E' if d == 'c2e' else 'E>C'
        if e['opc'] == 0:
            v = D.dec(D.Buf(p), D.SETUP); names.update({int(x, 16): k for k, x in v[3]})
            print('%s Setup %d symbols, map %d, payload %d' % (arrow, len(v[3]), len(v[2]), len(p))); continue
        if e['opc'] == 3:
            n = nm(e['tag']); pend[d][seq] = n; s = ''
            if n in D.SIGS:
                try:
                    v = D.dec(D.Buf(p), D.SIGS[n][0])
                    if n.endswith('_initialize_wrapper') and not n.endswith('deinitialize_wrapper'):
                        segs = ['%s@%s+%d/%d' % (g[0][:3], g[1], g[3]['len'], g[2]) for g in v[1][0]]
                        acts = []
                        for f, dd in v[1][1]:
                            fa = int(f['fn'].split('=')[0], 16); da = int(dd['fn'].split('=')[0], 16)
                            acts.append('%s(%d)/%s' % (nm(fa), f['args']['len'], nm(da) if da else '-'))
                        s = 'segs=%s acts=%s' % (segs, acts)
                    else:
                        s = json.dumps(v)[:300]
                except Exception as ex:
                    s = 'DECODE ERROR %s %s' % (ex, p.hex()[:80])
            else:
                s = 'raw ' + p.hex()[:160]
            print('%s call   seq=%-3d %s %s' % (arrow, seq, n, s))
        elif e['opc'] == 2:
            other = 'e2c' if d == 'c2e' else 'c2e'; n = pend[other].pop(seq, '?'); s = ''
            if n in D.SIGS:
                try: s = json.dumps(D.dec(D.Buf(p), D.SIGS[n][1]))[:200]
                except Exception as ex: s = 'DECODE ERROR %s raw %s' % (ex, p.hex()[:80])
            else: s = 'raw ' + p.hex()[:160]
            if n.endswith('resolve_wrapper'): s = s[:120]
            print('%s result seq=%-3d (%s) %s tag=%x' % (arrow, seq, n.split('_')[-2] if '_' in n else n, s, e['tag']))
        else:
            print('%s opc=%d seq=%d payload=%s' % (arrow, e['opc'], seq, p.hex()[:80]))
if __name__ == "__main__": main()
