export { awsClientSettings, type AwsClientSettings } from './aws-client-config';
export { AwsClients } from './aws-clients';
export { AwsModule } from './aws.module';
