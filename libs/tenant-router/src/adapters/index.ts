export { ControlPlaneTenantDirectory } from './control-plane-tenant-directory';
export {
  parseAppSecret,
  SecretsManagerCredentialSource,
  TenantSecretError,
} from './secrets-manager-credential-source';
