/**
 * A range of a segment file that a Fetch response sends from the page cache with sendfile(2)
 * instead of reading it into memory (what Kafka's FileRecords does with transferTo).
 *
 * It stands where the response's records bytes go: a Uint8Array whose `length` is the range's, so
 * the response encoder sizes it like any records field, but which holds no bytes. Only a writer
 * that knows it may take it (the broker's GatherWriter hands it to the connection, which sends it
 * from `fd`); @sluice/protocol's Writer refuses it (its length and byteLength differ). The
 * descriptor stays open while the lease it was read under is held (see FdFile.pin).
 */
export class FileRegion extends Uint8Array {
  constructor(
    /** The segment file's descriptor, open until the lease is released. */
    readonly fd: number,
    /** Where the range starts in the file. */
    readonly position: number,
    /** Bytes in the range. */
    readonly size: number,
  ) {
    super(0);
  }
}

// `length` is an accessor of TypedArray.prototype; the region answers with its range's size.
Object.defineProperty(FileRegion.prototype, 'length', {
  get(this: FileRegion) {
    return this.size;
  },
});
