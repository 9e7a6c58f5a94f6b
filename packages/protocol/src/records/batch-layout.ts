/**
 * Byte layout of a RecordBatch (magic 2) header, as record-format.html gives it. Every offset is
 * from the start of the batch. The log and the broker read and patch these fields in place.
 */
export const BASE_OFFSET_OFFSET = 0; // int64
export const BATCH_LENGTH_OFFSET = 8; // int32: bytes after this field
export const PARTITION_LEADER_EPOCH_OFFSET = 12; // int32 (outside the CRC)
export const MAGIC_OFFSET = 16; // int8
export const CRC_OFFSET = 17; // uint32, CRC-32C of everything from ATTRIBUTES_OFFSET to the end
export const ATTRIBUTES_OFFSET = 21; // int16
export const LAST_OFFSET_DELTA_OFFSET = 23; // int32
export const BASE_TIMESTAMP_OFFSET = 27; // int64
export const MAX_TIMESTAMP_OFFSET = 35; // int64
export const PRODUCER_ID_OFFSET = 43; // int64
export const PRODUCER_EPOCH_OFFSET = 51; // int16
export const BASE_SEQUENCE_OFFSET = 53; // int32
export const RECORDS_COUNT_OFFSET = 57; // int32
/** Size of the batch header; records (or the compressed records) follow. */
export const RECORD_BATCH_OVERHEAD = 61;
/** base offset + batch length: the part of the header not counted in `batchLength`. */
export const LOG_OVERHEAD = 12;
/** The smallest prefix that tells a batch's magic and total size. */
export const HEADER_SIZE_UP_TO_MAGIC = 17;

export const COMPRESSION_CODEC_MASK = 0x07;
export const TIMESTAMP_TYPE_MASK = 0x08;
export const TRANSACTIONAL_FLAG_MASK = 0x10;
export const CONTROL_FLAG_MASK = 0x20;
export const DELETE_HORIZON_FLAG_MASK = 0x40;

export const NO_PRODUCER_ID = -1n;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
export const NO_PARTITION_LEADER_EPOCH = -1;
