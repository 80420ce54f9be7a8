// The one-time IAM step the trace collector needs, as commands to run: the course's Step-03 (IRSA), or an EKS Pod
// Identity association. Our manifests own the ServiceAccount, so eksctl only makes the role (--role-only), under a
// name the operator can look up afterwards. Every collector here only writes traces to X-Ray and relays the SDKs'
// sampling calls (the CloudWatch agent is given no metrics or logs to send), so each gets the same managed policy,
// which allows those X-Ray calls and nothing else.
import { type IamOptions, partitionOf } from './options'

function xrayPolicyArn(region: string): string {
  return `arn:${partitionOf(region)}:iam::aws:policy/AWSXRayDaemonWriteAccess`
}

/** How to read the role's ARN back once it exists, for --xray-role-arn. */
function roleArnLookup(roleName: string): string {
  return `aws iam get-role --role-name ${roleName} --query Role.Arn --output text`
}

/** A shell script: comments say what each command is for, and how to continue. */
export function iamCommand(o: IamOptions): string {
  if (o.podIdentity) {
    return [
      '# Needs the eks-pod-identity-agent add-on on the cluster (docs/deploying.md).',
      'eksctl create podidentityassociation \\',
      `    --cluster ${o.cluster} \\`,
      `    --region ${o.region} \\`,
      `    --namespace ${o.serviceAccountNamespace} \\`,
      `    --service-account-name ${o.serviceAccount} \\`,
      `    --role-name ${o.roleName} \\`,
      `    --permission-policy-arns ${xrayPolicyArn(o.region)}`,
    ].join('\n')
  }
  return [
    '# Lets the cluster issue IAM credentials to service accounts (harmless when already done).',
    `eksctl utils associate-iam-oidc-provider --cluster ${o.cluster} --region ${o.region} --approve`,
    '# Makes the role only: the ServiceAccount comes from ./app manifests.',
    'eksctl create iamserviceaccount \\',
    `    --cluster ${o.cluster} \\`,
    `    --region ${o.region} \\`,
    `    --namespace ${o.serviceAccountNamespace} \\`,
    `    --name ${o.serviceAccount} \\`,
    `    --role-name ${o.roleName} \\`,
    '    --role-only \\',
    `    --attach-policy-arn ${xrayPolicyArn(o.region)} \\`,
    '    --approve',
    '# Then give ./app manifests the role:',
    `#   --xray-role-arn "$(${roleArnLookup(o.roleName)})"`,
  ].join('\n')
}
