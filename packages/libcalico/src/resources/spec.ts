/**
 * Spec shapes of every kind, with Calico v3's JSON field names, as they come
 * out of validateResource (defaults applied, values normalised). Optional
 * fields are absent when not set; validateResource never adds other fields.
 */
import type { Resource } from './types.js';

/** TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite, or an IP protocol number 1..255. */
export type Protocol = 'TCP' | 'UDP' | 'ICMP' | 'ICMPv6' | 'SCTP' | 'UDPLite' | number;
/** A port number, or a range "lo:hi" (a range with lo == hi is normalised to the number). */
export type Port = number | string;
export type Action = 'Allow' | 'Deny' | 'Log' | 'Pass';
export type PolicyType = 'Ingress' | 'Egress';
export type EncapMode = 'Always' | 'CrossSubnet' | 'Never';
export type LogSeverity = 'Debug' | 'Info' | 'Warning' | 'Error' | 'Fatal';

export interface ICMPFields {
  /** 0..254 */
  type?: number;
  /** 0..255; only with type */
  code?: number;
}

export interface ServiceAccountMatch {
  names?: string[];
  selector?: string;
}

export interface EntityRule {
  /** CIDRs (a bare IP is normalised to /32 or /128) */
  nets?: string[];
  notNets?: string[];
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  ports?: Port[];
  notPorts?: Port[];
  serviceAccounts?: ServiceAccountMatch;
}

export interface Rule {
  action: Action;
  ipVersion?: 4 | 6;
  protocol?: Protocol;
  notProtocol?: Protocol;
  icmp?: ICMPFields;
  notICMP?: ICMPFields;
  source?: EntityRule;
  destination?: EntityRule;
  metadata?: { annotations?: Record<string, string> };
}

export interface IPPoolSpec {
  cidr: string;
  /** default 26 (IPv4) / 122 (IPv6); 20..32 / 116..128 */
  blockSize: number;
  ipipMode: EncapMode;
  vxlanMode: EncapMode;
  natOutgoing: boolean;
  disabled: boolean;
  /** which nodes may take blocks from this pool; default all() */
  nodeSelector: string;
}

export interface ProfileSpec {
  ingress?: Rule[];
  egress?: Rule[];
  /** labels given to every endpoint with this profile (a v1 tag T is the label T: "") */
  labelsToApply?: Record<string, string>;
}

export interface PolicySpec {
  /** lower applies first; absent = last */
  order?: number;
  selector?: string;
  /** defaulted as Calico does: Ingress if no egress rules, Egress if only egress rules, both if both */
  types: PolicyType[];
  ingress?: Rule[];
  egress?: Rule[];
  serviceAccountSelector?: string;
}

export interface GlobalNetworkPolicySpec extends PolicySpec {
  namespaceSelector?: string;
  /** untracked policy (raw table); needs applyOnForward */
  doNotTrack?: boolean;
  /** applied before DNAT; ingress only; needs applyOnForward */
  preDNAT?: boolean;
  applyOnForward?: boolean;
}

export type NetworkPolicySpec = PolicySpec;

export interface NodeBGPSpec {
  /** the node's address with its subnet prefix, e.g. 198.18.0.1/24 */
  ipv4Address?: string;
  ipv6Address?: string;
  asNumber?: number;
  /** IPv4-form cluster id; set on route reflectors */
  routeReflectorClusterID?: string;
  ipv4IPIPTunnelAddr?: string;
}

export interface OrchRef {
  orchestrator: string;
  nodeName?: string;
}

export interface NodeSpec {
  bgp?: NodeBGPSpec;
  ipv4VXLANTunnelAddr?: string;
  orchRefs?: OrchRef[];
}

export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface BGPPeerSpec {
  /** node this peering applies to; absent = every node (global peer) */
  node?: string;
  nodeSelector?: string;
  peerIP?: string;
  peerSelector?: string;
  asNumber?: number;
  /**
   * Calico's `{secretKeyRef: {name, key}}`, or (our extension, since there are no
   * Kubernetes secrets here) the password itself as a plain string.
   */
  password?: string | { secretKeyRef: SecretKeyRef };
  keepOriginalNextHop?: boolean;
  sourceAddress?: 'UseNodeIP' | 'None';
}

export interface ServiceCIDR {
  cidr: string;
}

/** Calico's BGP settings where BGPConfiguration `default` is absent or leaves them unset. */
export const BGP_DEFAULTS = { asNumber: 64512, nodeToNodeMeshEnabled: true } as const;

export interface BGPConfigurationSpec {
  asNumber?: number;
  nodeToNodeMeshEnabled?: boolean;
  logSeverityScreen?: LogSeverity;
  listenPort?: number;
  serviceClusterIPs?: ServiceCIDR[];
  serviceExternalIPs?: ServiceCIDR[];
}

export interface ProtoPort {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  /** optional CIDR the failsafe applies to */
  net?: string;
}

/**
 * Felix parameters (camelCase as in Calico). Durations are Go-duration strings
 * ("90s", "1m30s"); read them with parseDuration. Unset means Felix's default.
 */
export interface FelixConfigurationSpec {
  logSeverityScreen?: LogSeverity;
  logSeverityFile?: LogSeverity;
  logSeveritySys?: LogSeverity;
  logFilePath?: string;
  logPrefix?: string;
  iptablesBackend?: 'Auto' | 'NFT' | 'Legacy';
  iptablesRefreshInterval?: string;
  iptablesPostWriteCheckInterval?: string;
  iptablesLockTimeout?: string;
  iptablesMarkMask?: number;
  iptablesFilterAllowAction?: 'Accept' | 'Return';
  iptablesMangleAllowAction?: 'Accept' | 'Return';
  routeRefreshInterval?: string;
  ipsetsRefreshInterval?: string;
  maxIpsetSize?: number;
  defaultEndpointToHostAction?: 'Drop' | 'Return' | 'Accept';
  interfacePrefix?: string;
  chainInsertMode?: 'Insert' | 'Append';
  ignoreLooseRPF?: boolean;
  ipv6Support?: boolean;
  /** ours, not Calico's: endpoints with equal policies and profiles share chains */
  sharedEndpointChains?: boolean;
  natOutgoingAddress?: string;
  natPortRange?: Port;
  deviceRouteProtocol?: number;
  removeExternalRoutes?: boolean;
  failsafeInboundHostPorts?: ProtoPort[];
  failsafeOutboundHostPorts?: ProtoPort[];
  healthEnabled?: boolean;
  healthHost?: string;
  healthPort?: number;
  prometheusMetricsEnabled?: boolean;
  prometheusMetricsHost?: string;
  prometheusMetricsPort?: number;
  reportingInterval?: string;
  reportingTTL?: string;
  endpointReportingEnabled?: boolean;
  endpointReportingDelay?: string;
  ipipEnabled?: boolean;
  ipipMTU?: number;
  vxlanEnabled?: boolean;
  vxlanMTU?: number;
  vxlanPort?: number;
  vxlanVNI?: number;
}

export interface IPNAT {
  internalIP: string;
  externalIP: string;
}

export interface EndpointPort {
  name: string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port: number;
}

export interface WorkloadEndpointSpec {
  orchestrator?: string;
  workload?: string;
  node?: string;
  containerID?: string;
  pod?: string;
  endpoint?: string;
  /** /32 or /128 CIDRs */
  ipNetworks?: string[];
  ipNATs?: IPNAT[];
  ipv4Gateway?: string;
  ipv6Gateway?: string;
  profiles?: string[];
  /** host-side interface, at most 15 characters */
  interfaceName?: string;
  mac?: string;
  ports?: EndpointPort[];
}

export interface HostEndpointSpec {
  node?: string;
  /** a host interface, or "*" for all of the host's interfaces */
  interfaceName?: string;
  expectedIPs?: string[];
  profiles?: string[];
  ports?: EndpointPort[];
}

export interface SpecByKind {
  IPPool: IPPoolSpec;
  Profile: ProfileSpec;
  GlobalNetworkPolicy: GlobalNetworkPolicySpec;
  NetworkPolicy: NetworkPolicySpec;
  Node: NodeSpec;
  BGPPeer: BGPPeerSpec;
  BGPConfiguration: BGPConfigurationSpec;
  FelixConfiguration: FelixConfigurationSpec;
  WorkloadEndpoint: WorkloadEndpointSpec;
  HostEndpoint: HostEndpointSpec;
}

export type KindName = keyof SpecByKind;

export type IPPool = Resource<IPPoolSpec>;
export type Profile = Resource<ProfileSpec>;
export type GlobalNetworkPolicy = Resource<GlobalNetworkPolicySpec>;
export type NetworkPolicy = Resource<NetworkPolicySpec>;
export type Node = Resource<NodeSpec>;
export type BGPPeer = Resource<BGPPeerSpec>;
export type BGPConfiguration = Resource<BGPConfigurationSpec>;
export type FelixConfiguration = Resource<FelixConfigurationSpec>;
export type WorkloadEndpoint = Resource<WorkloadEndpointSpec>;
export type HostEndpoint = Resource<HostEndpointSpec>;
