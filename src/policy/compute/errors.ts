// A policy the compute step cannot realize. Thrown while one policy is being compiled and
// caught at the policy boundary, so one bad policy never takes the others down.
export class PolicyComputeError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'PolicyComputeError';
  }
}

/** A field of the Antrea API that Seine accepts (so YAML loads) but does not enforce yet. */
export class NotSupportedError extends PolicyComputeError {
  constructor(path: string, what: string) {
    super(path, `${what} is not supported yet`);
    this.name = 'NotSupportedError';
  }
}
