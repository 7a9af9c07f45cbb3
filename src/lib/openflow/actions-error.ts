// The error of an action the encoder cannot read: it names the action as written.
export class ActionError extends Error {
  constructor(readonly token: string, reason: string) {
    super(`action "${token}": ${reason}`);
    this.name = 'ActionError';
  }
}
