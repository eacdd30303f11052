/**
 * The one error hierarchy of vxmesh (every layer raises these).
 *
 * - {@link ValidationError}: the caller's input is wrong; nothing was sent to the kernel.
 * - {@link KernelError}: the kernel refused a request; carries the errno name and the object.
 * - {@link NotFoundError}: a namespace, device or network the caller named does not exist.
 */
export class VxmeshError extends Error {
  override name = 'VxmeshError';
}

/** An error about one named input field (e.g. `mac`, `ip`, `vni`, `netns`); the message starts with it. */
export abstract class FieldError extends VxmeshError {
  readonly field: string;
  /** The message without the field name in front. */
  readonly detail: string;
  constructor(field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.field = field;
    this.detail = detail;
  }
}

/** The input is wrong; nothing was changed. */
export class ValidationError extends FieldError {
  override name = 'ValidationError';
}

/** The state directory cannot be written (read-only, full): the change was not made. */
export class StateDirError extends FieldError {
  override name = 'StateDirError';
}

/** What the input names does not exist. */
export class NotFoundError extends FieldError {
  override name = 'NotFoundError';
}

export class KernelError extends VxmeshError {
  override name = 'KernelError';
  /** errno name, e.g. `EEXIST`, `ENOENT`. */
  readonly errno: string;
  /** The object the failed request concerned, e.g. `fdb 02:00:00:00:00:01 dev vxlan42`. */
  readonly object: string;
  constructor(errno: string, object: string, operation: string) {
    super(`${operation} ${object}: ${errno}`);
    this.errno = errno;
    this.object = object;
  }
}

/** The store cannot be reached or answered with an error. */
export class StoreError extends VxmeshError {
  override name = 'StoreError';
}
