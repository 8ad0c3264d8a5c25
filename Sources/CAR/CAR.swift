// CAR v1 and v2: content-addressed archives. Format: formats/car.md.
//
// - `CARReader`: push parser, pieces of any size in, header and verified blocks out.
// - `CAREncoder`, `CARv2Header`, `CARIndex`/`CARIndexBuilder`: the bytes tau writes.
// - `CARExport`: a DAG from any `BlockSource` to a CARv1 or CARv2, depth-first, deduplicated.
// - `CARImporter`/`CARImport`: a CAR into any `BlockSink`, in batches.
//
// Layer 0: no I/O and no Foundation; callers bring the bytes and take them away.
