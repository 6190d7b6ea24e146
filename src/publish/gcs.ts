/**
 * Upload to Google Cloud Storage (`gcs_bucket`), as sops does with the Storage client's defaults:
 * Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's, the metadata
 * server), or no authentication with `STORAGE_EMULATOR_HOST` (an emulator's address, as the Go and
 * Node clients read it). One upload of the file's bytes (a multipart upload: the files are small).
 * Unlike sops (whose writer's Close error is dropped), a failed upload is an error.
 * The Storage SDK is imported only here, only when a file is published to GCS.
 */
export async function uploadGcs(
  bucket: string,
  name: string,
  body: Buffer,
  env: NodeJS.ProcessEnv,
  log: (msg: string) => void,
): Promise<void> {
  const { Storage } = await import('@google-cloud/storage');
  const emulator = (env['STORAGE_EMULATOR_HOST'] ?? '').trim();
  const apiEndpoint = emulator ? (/^https?:\/\//.test(emulator) ? emulator : `http://${emulator}`) : undefined;
  const storage = new Storage({
    ...(apiEndpoint ? { apiEndpoint, useAuthWithCustomEndpoint: false } : {}),
    retryOptions: { autoRetry: false },
  });
  log(`publish: upload gcs://${bucket}/${name}${apiEndpoint ? ` at ${apiEndpoint}` : ''}`);
  try {
    await storage.bucket(bucket).file(name).save(body, { resumable: false });
  } catch (e) {
    const err = e as { code?: unknown; message?: string };
    const code = typeof err.code === 'number' || typeof err.code === 'string' ? `${err.code} ` : '';
    const why = (err.message ?? String(e)).replace(/\s+/g, ' ').trim();
    throw new Error(`could not upload to gcs://${bucket}/${name}: ${code}${why}`, { cause: e });
  }
}
