/** The cloud's device gateway: registry, broker and the privileged MQTT client. */
export { DeviceGateway, startGateway, type GatewayOptions, type GatewayStats, type GatewayEvents } from './gateway.js';
export { DeviceRegistry, type DeviceRecord, type NewDevice, type AddDeviceOptions, type MetricsSeriesPoint } from './registry.js';
export { deviceAcl, type RefusalKind } from './broker.js';
