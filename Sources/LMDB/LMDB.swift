// Swift wrappers over LMDB (liblmdb). Format: formats/lmdb.md.
import CLMDB
