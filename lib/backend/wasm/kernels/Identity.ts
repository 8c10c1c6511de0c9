/** Identity without a copy: the output shares the input's memory, as on the cpu backend. */
import * as tf from '@tensorflow/tfjs';
import { BACKEND, kernelFunc, type KernelArgs, type TensorInfo } from '../kernel-utils/util';

/** No copy: the output shares the input's memory, as on the cpu backend (tensors are immutable). */
function identity(args: KernelArgs): TensorInfo {
  const { x } = args.inputs;
  if (x.dtype === 'string') return kernelFunc('Identity')(args) as TensorInfo;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

export const identityConfig: tf.KernelConfig = {
  kernelName: 'Identity',
  backendName: BACKEND,
  kernelFunc: identity as unknown as tf.KernelFunc,
};
