/**
 * Upload to Amazon S3 (`s3_bucket`), as sops does with the AWS SDK's default configuration: one
 * PutObject of the file's bytes. Settings from the environment given (the library's `env`):
 * region `AWS_REGION` / `AWS_DEFAULT_REGION` (else the SDK's profile lookup), credentials
 * `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (`AWS_SESSION_TOKEN`), else the default chain
 * (`AWS_PROFILE`, SSO, instance roles…), endpoint `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`,
 * HTTPS_PROXY / NO_PROXY and AWS_CA_BUNDLE as for KMS (../keys/kms/client.ts), `AWS_MAX_ATTEMPTS`.
 * The S3 SDK is imported only here, only when a file is published to S3.
 */
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { awsEndpoint, awsHttpsAgent, describeAwsError } from '../keys/kms/client.js';

const TIMEOUT_MS = 60_000;

export async function uploadS3(
  bucket: string,
  key: string,
  body: Buffer,
  env: NodeJS.ProcessEnv,
  log: (msg: string) => void,
): Promise<void> {
  // the SDK's notice that its 2027 versions need Node 22 is not for tsops's users (sops prints none)
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const region = (env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || '').trim();
  const endpoint = awsEndpoint(env, 'S3');
  let credentials: S3ClientConfig['credentials'];
  const id = env['AWS_ACCESS_KEY_ID'];
  const secret = env['AWS_SECRET_ACCESS_KEY'];
  if (id && secret) {
    const token = env['AWS_SESSION_TOKEN'];
    credentials = { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
    log('publish: S3 credentials from AWS_ACCESS_KEY_ID');
  } else {
    const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
    credentials = defaultProvider({
      ...(env['AWS_PROFILE'] ? { profile: env['AWS_PROFILE'] } : {}),
      ignoreCache: true,
    });
    log('publish: S3 credentials from the default chain');
  }
  const attempts = Number((env['AWS_MAX_ATTEMPTS'] ?? '').trim());
  const client = new S3Client({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    credentials,
    ...(Number.isInteger(attempts) && attempts > 0 ? { maxAttempts: attempts } : {}),
    requestHandler: {
      connectionTimeout: TIMEOUT_MS,
      requestTimeout: TIMEOUT_MS,
      throwOnRequestTimeout: true,
      httpsAgent: awsHttpsAgent(env),
    },
  });
  try {
    log(`publish: PutObject s3://${bucket}/${key}${endpoint ? ` at ${endpoint}` : ''}`);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  } catch (e) {
    throw new Error(`could not upload to s3://${bucket}/${key}: ${describeAwsError(e, TIMEOUT_MS)}`, { cause: e });
  } finally {
    client.destroy();
  }
}
