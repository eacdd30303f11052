/** The CNI specification versions the plugin speaks (the launcher answers VERSION from this alone). */
export const SUPPORTED_VERSIONS = ['1.0.0', '1.1.0'] as const;
