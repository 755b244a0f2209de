export * from './instance-classes';
export * from './tier-profile';
export * from './default-tier-profiles';
export * from './tier-profiles.schema';
export * from './load-tier-profiles';
export * from './engine-version-check';
