#!/usr/bin/env python3
"""Decode a proxy.py JSON-lines log of SimpleRemoteEPC traffic (LLVM 19 and 22; 22 signatures added)."""
import json, struct, sys

OPC = {0: 'Setup', 1: 'Hangup', 2: 'Result', 3: 'CallWrapper'}

class Buf:
    def __init__(s, b): s.b = b; s.o = 0
    def take(s, n):
        if s.o + n > len(s.b): raise ValueError('short buffer need %d at %d/%d' % (n, s.o, len(s.b)))
        v = s.b[s.o:s.o+n]; s.o += n; return v
    def rest(s): return len(s.b) - s.o

def dec(b, t):
    """t: 'u8','u16','u32','u64','i32','i64','bool','addr','str','bytes','empty','error',
       ('seq',T), ('tup',T...), ('exp',T)"""
    if isinstance(t, str):
        if t in ('u8','u16','u32','u64','i32','i64'):
            fmt = {'u8':'<B','u16':'<H','u32':'<I','u64':'<Q','i32':'<i','i64':'<q'}[t]
            return struct.unpack(fmt, b.take(struct.calcsize(fmt)))[0]
        if t == 'bool': return bool(b.take(1)[0])
        if t == 'addr': return '0x%x' % struct.unpack('<Q', b.take(8))[0]
        if t == 'str':
            n = dec(b, 'u64'); return b.take(n).decode('latin1')
        if t == 'bytes':
            n = dec(b, 'u64'); v = b.take(n)
            return {'len': n, 'hex': v[:48].hex() + ('...' if n > 48 else '')}
        if t == 'empty': return None
        if t == 'error':
            if dec(b, 'bool'): return {'error': dec(b, 'str')}
            return 'success'
        if t == 'rag':
            v = dec(b, 'u8')
            return '%s%s%s%s(0x%x)' % ('R' if v&1 else '-', 'W' if v&2 else '-', 'X' if v&4 else '-', '+FinalizeLifetime' if v&8 else '', v)
        if t == 'wfc':
            fn = dec(b, 'addr'); args = dec(b, 'bytes')
            nm = NAMES.get(int(fn,16))
            return {'fn': fn + ('=' + nm if nm else ''), 'args': args}
    k = t[0]
    if k == 'seq':
        n = dec(b, 'u64'); return [dec(b, t[1]) for _ in range(n)]
    if k == 'opt':
        if dec(b, 'bool'): return dec(b, t[1])
        return None
    if k == 'tup':
        return [dec(b, x) for x in t[1:]]
    if k == 'exp':
        if dec(b, 'bool'): return {'value': dec(b, t[1])}
        return {'error': dec(b, 'str')}
    raise ValueError(t)

SEG = ('tup', 'rag', 'addr', 'u64', 'bytes')
FINREQ = ('tup', ('seq', SEG), ('seq', ('tup', 'wfc', 'wfc')))
SIGS = {
 '__llvm_orc_SimpleExecutorDylibManager_open_wrapper': (('tup','addr','str','u64'), ('exp','addr')),
 '__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper': (('tup','addr','addr',('seq',('tup','str','bool'))), ('exp',('seq',('tup','addr',('tup','u8','u8'))))),
 '__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper': (('tup','addr','u64'), ('exp','addr')),
 '__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper': (('tup','addr',FINREQ), 'error'),
 '__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper': (('tup','addr',('seq','addr')), 'error'),
 '__llvm_orc_bootstrap_mem_write_uint8s_wrapper': (('seq',('tup','addr','u8')), 'empty'),
 '__llvm_orc_bootstrap_mem_write_uint16s_wrapper': (('seq',('tup','addr','u16')), 'empty'),
 '__llvm_orc_bootstrap_mem_write_uint32s_wrapper': (('seq',('tup','addr','u32')), 'empty'),
 '__llvm_orc_bootstrap_mem_write_uint64s_wrapper': (('seq',('tup','addr','u64')), 'empty'),
 '__llvm_orc_bootstrap_mem_write_buffers_wrapper': (('seq',('tup','addr','bytes')), 'empty'),
 '__llvm_orc_bootstrap_run_as_main_wrapper': (('tup','addr',('seq','str')), 'i64'),
 '__llvm_orc_bootstrap_run_as_void_function_wrapper': (('tup','addr'), 'i32'),
 '__llvm_orc_bootstrap_run_as_int_function_wrapper': (('tup','addr','i32'), 'i32'),
 'llvm_orc_registerEHFrameSectionWrapper': (('tup',('tup','addr','addr')), 'error'),
 'llvm_orc_deregisterEHFrameSectionWrapper': (('tup',('tup','addr','addr')), 'error'),
 'llvm_orc_registerJITLoaderGDBWrapper': (('tup',('tup','addr','addr'),'bool'), 'error'),
 'llvm_orc_registerJITLoaderGDBAllocAction': (('tup',('tup','addr','addr'),'bool'), 'error'),
}

SIGS.update({
 '__llvm_orc_SimpleExecutorDylibManager_resolve_wrapper': (('tup','addr',('seq',('tup','str','bool'))), ('exp',('seq',('opt',('tup','addr',('tup','u8','u8')))))),
 '__llvm_orc_SimpleExecutorMemoryManager_initialize_wrapper': (('tup','addr',FINREQ), ('exp','addr')),
 '__llvm_orc_SimpleExecutorMemoryManager_deinitialize_wrapper': (('tup','addr',('seq','addr')), 'error'),
 '__llvm_orc_SimpleExecutorMemoryManager_release_wrapper': (('tup','addr',('seq','addr')), 'error'),
 '__llvm_orc_bootstrap_mem_write_pointers_wrapper': (('seq',('tup','addr','addr')), 'empty'),
 '__llvm_orc_bootstrap_mem_read_uint8s_wrapper': (('seq','addr'), ('seq','u8')),
 '__llvm_orc_bootstrap_mem_read_uint16s_wrapper': (('seq','addr'), ('seq','u16')),
 '__llvm_orc_bootstrap_mem_read_uint32s_wrapper': (('seq','addr'), ('seq','u32')),
 '__llvm_orc_bootstrap_mem_read_uint64s_wrapper': (('seq','addr'), ('seq','u64')),
 '__llvm_orc_bootstrap_mem_read_pointers_wrapper': (('seq','addr'), ('seq','addr')),
 '__llvm_orc_bootstrap_mem_read_buffers_wrapper': (('seq',('tup','addr','addr')), ('seq','bytes')),
 '__llvm_orc_bootstrap_mem_read_strings_wrapper': (('seq','addr'), ('seq','str')),
 'llvm_orc_registerEHFrameAllocAction': (('tup',('tup','addr','addr')), 'error'),
 'llvm_orc_deregisterEHFrameAllocAction': (('tup',('tup','addr','addr')), 'error'),
 '__llvm_orc_ExecutorSharedMemoryMapperService_Reserve': (('tup','addr','u64'), ('exp',('tup','addr','str'))),
 '__llvm_orc_ExecutorSharedMemoryMapperService_Initialize': (('tup','addr','addr',('tup',('seq',('tup','rag','addr','u64')),('seq',('tup','wfc','wfc')))), ('exp','addr')),
 '__llvm_orc_ExecutorSharedMemoryMapperService_Deinitialize': (('tup','addr',('seq','addr')), 'error'),
 '__llvm_orc_ExecutorSharedMemoryMapperService_Release': (('tup','addr',('seq','addr')), 'error'),
})

SETUP = ('tup','str','u64',('seq',('tup','str','bytes')),('seq',('tup','str','addr')))

def fmt(v):
    return json.dumps(v)

NAMES = {}
def main(path, show_hex=False):
    names = NAMES
    pending = {'c2e': {}, 'e2c': {}}
    lookups = {}
    for line in open(path):
        e = json.loads(line)
        if e['event'] != 'msg':
            print('## %s %s' % (e['event'], {k: v for k, v in e.items() if k not in ('event',)}))
            continue
        d, opc, seq, tag = e['dir'], e['opc'], e['seq'], e['tag']
        p = bytes.fromhex(e['payload'])
        arrow = 'ctrl->exec' if d == 'c2e' else 'exec->ctrl'
        print('[%9.6f] %s %-11s seq=%d tag=0x%x size=%d (payload %d)' % (e['t'], arrow, OPC.get(opc, opc), seq, tag, e['size'], len(p)))
        if show_hex:
            print('    hex:', p[:256].hex() + ('...' if len(p) > 256 else ''))
        try:
            if opc == 0:
                b = Buf(p); v = dec(b, SETUP)
                print('    triple=%r pagesize=%d' % (v[0], v[1]))
                print('    bootstrap map (%d):' % len(v[2]))
                for k, val in v[2]: print('      %s = %s' % (k, val))
                print('    bootstrap symbols (%d):' % len(v[3]))
                for k, a in v[3]:
                    names[int(a, 16)] = k; print('      %-60s %s' % (k, a))
                if b.rest(): print('    TRAILING %d bytes' % b.rest())
            elif opc == 3:
                name = names.get(tag, '?')
                pending[d][seq] = name
                print('    -> %s' % name)
                if name in SIGS:
                    b = Buf(p); v = dec(b, SIGS[name][0])
                    print('    args:', fmt(v))
                    if b.rest(): print('    TRAILING %d bytes' % b.rest())
                    if name.endswith('lookup_wrapper'):
                        lookups[seq] = [x[0] for x in v[2]]
                    if name.endswith('resolve_wrapper'):
                        lookups[seq] = [x[0] for x in v[1]]
                else:
                    print('    args (raw):', p.hex())
            elif opc == 2:
                other = 'e2c' if d == 'c2e' else 'c2e'
                name = pending[other].pop(seq, '?')
                print('    result of %s' % name)
                if name in SIGS:
                    b = Buf(p); v = dec(b, SIGS[name][1])
                    print('    value:', fmt(v))
                    if b.rest(): print('    TRAILING %d bytes' % b.rest())
                    if (name.endswith('lookup_wrapper') or name.endswith('resolve_wrapper')) and isinstance(v, dict) and 'value' in v:
                        for n, r in zip(lookups.get(seq, []), v['value']):
                            if r and int(r[0], 16): names[int(r[0], 16)] = n
                else:
                    print('    value (raw):', p.hex())
            elif opc == 1:
                b = Buf(p); print('    hangup:', dec(b, 'error'))
        except Exception as ex:
            print('    DECODE ERROR', ex, p.hex()[:200])

if __name__ == '__main__':
    main(sys.argv[1], '-x' in sys.argv)
