export {
  countPlaced,
  HostAllocator,
  placementRequestOf,
  type HostAllocatorSettings,
  type PlacementRequest,
  type TenantPlacement,
} from './host-allocator';
export { HostError, HostErrorCode } from './host.errors';
export { lockHostPool } from './host-pool-lock';
export {
  HostQueries,
  type HostCursor,
  type HostListQuery,
  type HostPage,
  type HostWithTenants,
} from './host-queries.service';
export { HostRetirement } from './host-retirement';
