export { ControlPlaneTenantDirectory } from './control-plane-tenant-directory';
export { DirectoryDatabase, type DirectoryDatabaseOptions } from './directory-database';
export {
  parseAppSecret,
  SecretsManagerCredentialSource,
  TenantSecretError,
} from './secrets-manager-credential-source';
export {
  SecretsManagerClients,
  SecretsManagerSecretReader,
  SecretShapeError,
  type SecretReader,
} from './secrets-manager-secret-reader';
