// The node repo: LMDB block store, pins, garbage collection. Format: formats/lmdb.md.
import LMDB
