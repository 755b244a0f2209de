// @silo/tenant-router/metrics: the router's Prometheus families (prom-client is a peer of this entry only).
export { INITIALISATION_BUCKETS, registerTenantRouterMetrics } from './tenant-router.metrics';
