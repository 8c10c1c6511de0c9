/** tsfreeze: checkpoints, state dicts, freezing and training for TensorFlow.js. */
export type { DType, HostTensor, StateDict, TensorData } from './statedict/tensor';
export { DTYPES, isDType, itemSize, numel, hostTensor } from './statedict/tensor';
export { CheckpointError } from './formats/errors';
export type { Checkpoint, CheckpointFormat, CheckpointMetadata, JsonValue, ReadOptions } from './formats/checkpoint';
export { readCheckpoint, sniffFormat } from './formats/read';
export { writeCheckpoint } from './formats/write';
export type { WriteOptions } from './formats/write';
export { summarizeStateDict } from './formats/summary';
export type { StateDictSummary } from './formats/summary';
