/** CNI's error result (specification 1.0/1.1, "Error"): the reserved codes and the object printed on stdout. */

export const CNI_CODES = {
  /** Incompatible CNI version. */
  incompatibleVersion: 1,
  /** Unsupported field in the network configuration. */
  unsupportedField: 2,
  /** Container unknown or does not exist. */
  unknownContainer: 3,
  /** Invalid necessary environment variables. */
  invalidEnv: 4,
  /** I/O failure. */
  io: 5,
  /** Failed to decode content. */
  decode: 6,
  /** Invalid network configuration. */
  invalidConfig: 7,
  /** Try again later. */
  tryAgain: 11,
  /** STATUS: the plugin is not available (ADD would fail). */
  notAvailable: 50,
  /** STATUS: not available, existing containers may have limited connectivity. */
  limitedConnectivity: 51,
  /** vxmesh: the attachment (container id and interface) exists already. */
  exists: 100,
  /** vxmesh: the agent refused or failed the request (the message says why). */
  agent: 101,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** The configuration field or variable the error is about. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'CniError';
  }

  /** The error object CNI prints on stdout. */
  toResult(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return {
      cniVersion,
      code: this.code,
      msg: this.message,
      ...(this.field ? { details: `field: ${this.field}` } : {}),
    };
  }
}
