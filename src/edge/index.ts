/** The HTTP edge: one port for every AWS API (SigV4-authenticated), plus mounts for the registry and agents. */
export { createEdge, DEFAULT_MAX_BODY_BYTES, REQUEST_ID_HEADER } from './edge.js';
export type { Edge, EdgeOptions, EdgeRequestInit, EdgeResponse, MountHandler, UpgradeHandler } from './edge.js';
export { AccessKeyCache, ACCESS_KEY_PREFIX, ADMIN_KEY_POINTER, CREDENTIALS_FILE, accessKeyKey, credentialsFileText, ensureAdminKey, newAccessKey, parseAccessKey } from './credentials.js';
export type { AccessKeyRecord, AccessKeyStatus, EnsureAdminKeyOptions } from './credentials.js';
export { formatAmzDate, signatureFor, signJsonPost, verifySigV4, MAX_CLOCK_SKEW_MS, SIGV4_ALGORITHM } from './sigv4.js';
export type { CredentialLookup, JsonPostSigning, SignedRequest, SigningCredential, VerifiedRequest, VerifyOptions } from './sigv4.js';
export { consoleLogger } from './logger.js';
export type { Logger } from './logger.js';
