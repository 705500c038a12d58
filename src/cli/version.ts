/** Berth's version, reported by the CLI and to agents. */
export const VERSION = '0.1.0';
