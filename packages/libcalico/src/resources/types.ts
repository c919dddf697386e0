/** The Calico v3 resource envelope. Spec shapes per kind live in spec.ts. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  /** etcd mod revision; never stored in the value */
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Resource<S = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: S;
}
