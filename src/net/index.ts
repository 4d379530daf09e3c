export { DownloadError, isDownloadError, formatBytes, type DownloadErrorCode } from './errors.ts';
export { downloadBytes, DEFAULT_MAX_IMAGE_BYTES, type DownloadOptions, type Downloaded } from './downloadBytes.ts';
export { downloadFile, sha256OfFile, type DownloadFileOptions, type DownloadedFile, type ProgressCallback } from './downloadFile.ts';
export { blockedRange, resolveVetted, systemResolver, type AddressPolicy, type Resolver, type ResolvedAddress } from './addressPolicy.ts';
export { sniffImageType, sniffNonImageType, IMAGE_MIME, type ImageKind, type NonImageKind } from './sniff.ts';
export { createProgressReporter, silentProgress, type ProgressHandle, type ProgressReporter } from './progress.ts';
export type { Timeouts } from './http.ts';
