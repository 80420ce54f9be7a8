import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runApp } from '../services/testing'
import { type K8sObject, parseObjects } from './checks'

const image = '180789647333.dkr.ecr.us-east-1.amazonaws.com/xray-eks-app:0.1.0'
const roleArn = 'arn:aws:iam::180789647333:role/xray-daemon-eksdemo1-xray-system'
const certificateArn = 'arn:aws:acm:us-east-1:180789647333:certificate/9f042b5d-86fd-4fad-96d0-c81c5abc71e1'
const dbHost = 'usermgmtdb.cxojydmxwly6.us-east-1.rds.amazonaws.com'
const issuer = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123'

const jwtFlags = ['--auth', 'jwt', '--jwt-issuer', issuer, '--jwt-audience', '4ub2k7example']
const placement = ['--image', image, '--xray-role-arn', roleArn, '--certificate-arn', certificateArn]
const endpoints = ['--host', 'xraydemo.kubeoncloud.com', '--db-host', dbHost, '--from-address', 'mail@kubeoncloud.com']
const flags = [...placement, ...endpoints, ...jwtFlags]
const token = 'c2f1e0d9b8a7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1'
const env = {
  DB_PASSWORD: 'dbpassword11',
  AWS_MAIL_SERVER_USERNAME: 'AKIASESUSER',
  AWS_MAIL_SERVER_PASSWORD: 'ses-smtp-password',
  NOTIFICATION_AUTH_TOKEN: token,
}

/** flags without one option and its value. */
const without = (all: readonly string[], flag: string) => {
  const at = all.indexOf(flag)
  return at < 0 ? [...all] : [...all.slice(0, at), ...all.slice(at + 2)]
}

const find = (objects: readonly K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name)

describe('./app manifests as a compiled binary', () => {
  test('prints YAML alone for kubectl apply -f -, and nothing on stderr when there is nothing to warn of', () => {
    const result = runApp(['manifests', ...flags], env)
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(parseObjects(result.stdout).map((o) => o.kind)).toContain('Ingress')
  })

  test('--auth none is written, with one warning line on stderr saying what the Ingress then exposes', () => {
    const result = runApp(['manifests', ...placement, ...endpoints, '--auth', 'none'], env)
    expect(result.code).toBe(0)
    expect(result.stderr).toBe(
      'warning: --auth none: through xraydemo.kubeoncloud.com anyone can list, create and delete users and have account mail sent from mail@kubeoncloud.com to any address\n',
    )
    expect(find(parseObjects(result.stdout), 'Ingress', 'eks-microservices-demo')).toBeDefined()
  })

  test('--pod-identity drops the IRSA annotation and prints the association on stderr, YAML alone on stdout', () => {
    const result = runApp(['manifests', ...without(flags, '--xray-role-arn'), '--pod-identity'], env)
    expect(result.code).toBe(0)
    expect(find(parseObjects(result.stdout), 'ServiceAccount', 'xray-daemon')?.metadata.annotations).toBeUndefined()
    expect(result.stderr).toBe(
      [
        "With Pod Identity, associate the collector's service account once:",
        '# Needs the eks-pod-identity-agent add-on on the cluster (docs/deploying.md).',
        'eksctl create podidentityassociation \\',
        '    --cluster eksdemo1 \\',
        '    --region us-east-1 \\',
        '    --namespace xray-system \\',
        '    --service-account-name xray-daemon \\',
        '    --role-name xray-daemon-eksdemo1-xray-system \\',
        '    --permission-policy-arns arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess',
        '',
      ].join('\n'),
    )
  })

  test("--print-iam --cluster eksdemo1 needs nothing else and prints the course's Step-03 as a role-only eksctl command", () => {
    const result = runApp(['manifests', '--print-iam', '--cluster', 'eksdemo1'])
    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        '# Lets the cluster issue IAM credentials to service accounts (harmless when already done).',
        'eksctl utils associate-iam-oidc-provider --cluster eksdemo1 --region us-east-1 --approve',
        '# Makes the role only: the ServiceAccount comes from ./app manifests.',
        'eksctl create iamserviceaccount \\',
        '    --cluster eksdemo1 \\',
        '    --region us-east-1 \\',
        '    --namespace xray-system \\',
        '    --name xray-daemon \\',
        '    --role-name xray-daemon-eksdemo1-xray-system \\',
        '    --role-only \\',
        '    --attach-policy-arn arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess \\',
        '    --approve',
        '# Then give ./app manifests the role:',
        '#   --xray-role-arn "$(aws iam get-role --role-name xray-daemon-eksdemo1-xray-system --query Role.Arn --output text)"',
        '',
      ].join('\n'),
    })
  })

  test.each([
    ['cloudwatch-agent', 'cloudwatch-agent', 'cloudwatch-agent-eksdemo1-xray-system'],
    ['adot', 'adot-collector', 'adot-collector-eksdemo1-xray-system'],
  ])(
    "--print-iam --collector %s makes the role of that collector's service account, with the same X-Ray policy",
    (collector, account, role) => {
      const result = runApp(['manifests', '--print-iam', '--collector', collector])
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(
        `    --namespace xray-system \\\n    --name ${account} \\\n    --role-name ${role} \\\n`,
      )
      expect(result.stdout).toContain('--attach-policy-arn arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess \\')
    },
  )

  test('with --collector adot --exporter otlp the roles send OTLP to the node-local collector through xray-service', () => {
    const result = runApp(['manifests', ...flags, '--collector', 'adot', '--exporter', 'otlp'], env)
    expect(result).toMatchObject({ code: 0, stderr: '' })
    const deployment = find(parseObjects(result.stdout), 'Deployment', 'usermgmt-microservice') as
      | (K8sObject & { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } })
      | undefined
    const variables = Object.fromEntries(
      (deployment?.spec.template.spec.containers[0]?.env ?? [])
        .filter((v) => v.name.startsWith('OTEL_') || v.name === 'AWS_XRAY_DAEMON_ADDRESS')
        .map((v) => [v.name, v.value]),
    )
    expect(variables).toEqual({
      AWS_XRAY_DAEMON_ADDRESS: 'xray-service.xray-system:2000',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://xray-service.xray-system:4318/v1/traces',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.namespace.name=default,k8s.deployment.name=usermgmt-microservice',
    })
    expect(find(parseObjects(result.stdout), 'DaemonSet', 'adot-collector')).toBeDefined()
  })

  test('--print-iam follows the region, and on Fargate names the app namespace', () => {
    const fargate = runApp(['manifests', '--print-iam', '--fargate', '--namespace', 'shop', '--region', 'eu-west-1'])
    expect(fargate.code).toBe(0)
    expect(fargate.stdout).toContain('    --region eu-west-1 \\\n    --namespace shop \\\n')
    expect(fargate.stdout).toContain('--role-name xray-daemon-eksdemo1-shop \\')
  })

  test("--print-iam names the policy in the region's partition, and the role --iam-role-name gives", () => {
    const china = runApp(['manifests', '--print-iam', '--region', 'cn-north-1', '--iam-role-name', 'xray-writer'])
    expect(china.stdout).toContain('--attach-policy-arn arn:aws-cn:iam::aws:policy/AWSXRayDaemonWriteAccess \\')
    expect(china.stdout).toContain('--role-name xray-writer \\')
  })

  test('--print-iam reads what it needs from a values file that describes the whole deployment', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'values-')), 'values.yaml')
    writeFileSync(file, `image: ${image}\nauth: none\ncluster: demo2\ncollectorNamespace: tracing\nreplicas: 3\n`)
    const result = runApp(['manifests', '--print-iam', '--values', file])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('    --cluster demo2 \\\n    --region us-east-1 \\\n    --namespace tracing \\\n')
  })

  test.each([
    [
      'Pod Identity on Fargate',
      [...without(flags, '--xray-role-arn'), '--fargate', '--pod-identity'],
      env,
      ['--pod-identity: EKS Pod Identity does not work on Fargate; use IRSA (--xray-role-arn) there'],
    ],
    [
      'a daemon address on Fargate',
      [...flags, '--fargate', '--daemon-address', 'service'],
      env,
      ['--daemon-address: on Fargate each pod sends to its own sidecar collector (127.0.0.1); drop the option'],
    ],
    [
      'a collector namespace on Fargate',
      [...flags, '--fargate', '--collector-namespace', 'tracing'],
      env,
      [
        '--collector-namespace: on Fargate there is no collector namespace (the collector is a sidecar in each pod); drop the option',
      ],
    ],
    [
      'the daemon in the app namespace',
      [...flags, '--namespace', 'xray-system'],
      env,
      [
        '--namespace, --collector-namespace: must differ (both are xray-system): the trace collector gets a namespace of its own',
      ],
    ],
    [
      'OTLP sent to the X-Ray daemon, which has no OTLP receiver',
      [...flags, '--exporter', 'otlp'],
      env,
      [
        '--exporter: otlp sends OTLP, and the X-Ray daemon has no OTLP receiver; pick --collector cloudwatch-agent or --collector adot',
      ],
    ],
    [
      'both exporters with the X-Ray daemon named outright',
      [...flags, '--collector', 'xray-daemon', '--exporter', 'otlp,xray'],
      env,
      [
        '--exporter: xray,otlp sends OTLP, and the X-Ray daemon has no OTLP receiver; pick --collector cloudwatch-agent or --collector adot',
      ],
    ],
    [
      'a collector or exporter we do not offer',
      [...flags, '--collector', 'otelcol', '--exporter', 'none'],
      env,
      [
        '--collector: must be one of xray-daemon, cloudwatch-agent, adot',
        '--exporter: must be xray, otlp or xray,otlp',
      ],
    ],
    [
      "the daemon's image for another collector",
      [...flags, '--collector', 'adot', '--daemon-image', 'public.ecr.aws/xray/aws-xray-daemon:3.6.6'],
      env,
      ["--daemon-image: is the X-Ray daemon's image; for --collector adot use --collector-image"],
    ],
    [
      'two collector images',
      [...flags, '--daemon-image', 'public.ecr.aws/x/d:1', '--collector-image', 'public.ecr.aws/x/c:1'],
      env,
      ['--daemon-image, --collector-image: both name the collector image; keep --collector-image'],
    ],
    [
      'a collector image without a tag',
      [
        ...flags,
        '--collector',
        'cloudwatch-agent',
        '--collector-image',
        'public.ecr.aws/cloudwatch-agent/cloudwatch-agent',
      ],
      env,
      ['--collector-image: must name a tag other than latest, or a digest: every node must run the same build'],
    ],
    [
      'a canary split under HPAs',
      [...flags, '--canary', '2:1', '--hpa-max', '6'],
      env,
      [
        '--canary, --hpa-max: an HPA per track scales V1 and V2 each on its own load, so the V1:V2 split would drift; use one or the other',
      ],
    ],
    [
      'an HPA maximum below its minimum',
      [...flags, '--replicas', '3', '--hpa-max', '2'],
      env,
      ["--hpa-max: must be at least --replicas (3), the autoscaler's minimum"],
    ],
    ['no image', without(flags, '--image'), env, ['--image: is required']],
    [
      'an image from Docker Hub',
      [...without(flags, '--image'), '--image', 'xray-eks-app:0.1.0'],
      env,
      [
        '--image: must include the registry (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/xray-eks-app:0.1.0): a bare name is pulled from Docker Hub',
      ],
    ],
    [
      'an image without a tag',
      [...without(flags, '--image'), '--image', '180789647333.dkr.ecr.us-east-1.amazonaws.com/xray-eks-app'],
      env,
      ['--image: must name a tag other than latest, or a digest: every node must run the same build'],
    ],
    [
      'no --auth',
      [...placement, ...endpoints],
      env,
      [
        '--auth: is required: jwt (tokens from your OpenID Connect issuer) or none (anyone who reaches the ALB may read and change users)',
      ],
    ],
    [
      '--auth jwt without its issuer and audience',
      [...placement, ...endpoints, '--auth', 'jwt'],
      env,
      [
        '--jwt-issuer: is required with --auth jwt (the issuer URL, e.g. https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123)',
        '--jwt-audience: is required with --auth jwt (the aud claim your tokens carry, e.g. the client id)',
      ],
    ],
    [
      '--auth none with an issuer',
      [...placement, ...endpoints, '--auth', 'none', '--jwt-issuer', issuer],
      env,
      ['--jwt-issuer: has no effect with --auth none; drop it or use --auth jwt'],
    ],
    [
      'an issuer over plain HTTP',
      [...without(flags, '--jwt-issuer'), '--jwt-issuer', 'http://idp.example.com'],
      env,
      ['--jwt-issuer: must be an https URL'],
    ],
    [
      'a CA other than the RDS set',
      [...flags, '--db-ssl-ca', '/etc/ssl/my-ca.pem'],
      env,
      [
        '--db-ssl-ca: must be rds: the image holds only the Amazon RDS CA set (another CA would need its PEM file in the pod)',
      ],
    ],
    [
      'a CA that the mode would ignore',
      [...flags, '--db-ssl-mode', 'REQUIRED', '--db-ssl-ca', 'rds'],
      env,
      [
        "--db-ssl-ca: only VERIFY_CA and VERIFY_IDENTITY check the server's certificate; with --db-ssl-mode REQUIRED it would be ignored",
      ],
    ],
    [
      'identity checks against a name RDS certificates do not carry',
      [...without(flags, '--db-host'), '--db-host', 'mysql.internal.example.com'],
      env,
      [
        '--db-host: VERIFY_IDENTITY checks the certificate against mysql.internal.example.com, and RDS certificates name only the RDS endpoint (...rds.amazonaws.com); pass the endpoint, or --db-ssl-mode VERIFY_CA',
      ],
    ],
    [
      'a role ARN beside Pod Identity',
      [...flags, '--pod-identity'],
      env,
      ['--xray-role-arn: is for IRSA; with --pod-identity the association names the role, so drop one'],
    ],
    [
      'no daemon role at all',
      without(flags, '--xray-role-arn'),
      env,
      [
        '--xray-role-arn: is required (or --pod-identity); ./app manifests --print-iam prints the command that makes the role',
      ],
    ],
    [
      'a certificate of another region',
      [...flags, '--region', 'eu-west-1'],
      env,
      [
        '--certificate-arn: is in us-east-1 but --region is eu-west-1; the ALB can use only a certificate of its own region',
      ],
    ],
    [
      'a role name without --print-iam',
      [...flags, '--iam-role-name', 'xray-writer'],
      env,
      ['--iam-role-name: only used with --print-iam (the manifests take the ARN: --xray-role-arn)'],
    ],
    [
      'no notification token',
      flags,
      { ...env, NOTIFICATION_AUTH_TOKEN: '' },
      [
        'NOTIFICATION_AUTH_TOKEN: is required in the environment to generate the Secret notification-auth-token (make one once with `openssl rand -hex 32` and keep it), or pass --notification-token-secret NAME',
      ],
    ],
    [
      'a short notification token',
      flags,
      { ...env, NOTIFICATION_AUTH_TOKEN: 'secret' },
      ['NOTIFICATION_AUTH_TOKEN: must be at least 32 characters (`openssl rand -hex 32` makes one)'],
    ],
    [
      'deployment options with --print-iam',
      ['--print-iam', '--cluster', 'eksdemo1', '--image', image, '--host', 'a.example.com'],
      {},
      [
        '--print-iam: uses only --cluster, --region, --namespace, --collector-namespace, --fargate, --pod-identity, --collector, --iam-role-name; drop --image, --host',
      ],
    ],
    [
      'a role name IAM cannot hold',
      ['--print-iam', '--cluster', 'a'.repeat(40), '--namespace', 'b'.repeat(20), '--fargate'],
      {},
      [
        `--cluster, --namespace: the IAM role name xray-daemon-${'a'.repeat(40)}-${'b'.repeat(20)} is over 64 characters; pass --iam-role-name NAME`,
      ],
    ],
    [
      'malformed values',
      [
        ...without(without(without(flags, '--certificate-arn'), '--host'), '--db-host'),
        ...['--certificate-arn', 'nope', '--host', 'not a host', '--db-host', dbHost],
        ...['--canary', 'two', '--replicas', 'many', '--db-ssl-mode', 'verify'],
      ],
      env,
      [
        '--certificate-arn: must be an ACM certificate ARN (arn:aws:acm:region:123456789012:certificate/uuid)',
        '--host: must be a host name',
        '--db-ssl-mode: must be one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY',
        '--replicas: must be a whole number from 1 to 50',
        '--canary: must be V1:V2 replica counts, e.g. 2:2',
      ],
    ],
  ])('refuses %s: exit 2, nothing on stdout, one line per problem', (_, args, environment, lines) => {
    const result = runApp(['manifests', ...args], environment)
    expect(result).toEqual({ code: 2, stdout: '', stderr: lines.map((line) => `app: ${line}\n`).join('') })
  })

  test('names every problem at once, and a missing secret by its variable, never echoing a value', () => {
    const result = runApp(['manifests', '--fargate', '--pod-identity', '--canary', '2:1', '--hpa-max', '4'], {
      DB_PASSWORD: 'dbpassword11',
    })
    expect(result.code).toBe(2)
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([
      'app: --image: is required',
      'app: --certificate-arn: is required',
      'app: --host: is required',
      'app: --db-host: is required',
      'app: --from-address: is required',
      'app: --auth: is required: jwt (tokens from your OpenID Connect issuer) or none (anyone who reaches the ALB may read and change users)',
      'app: --pod-identity: EKS Pod Identity does not work on Fargate; use IRSA (--xray-role-arn) there',
      'app: --canary, --hpa-max: an HPA per track scales V1 and V2 each on its own load, so the V1:V2 split would drift; use one or the other',
      'app: AWS_MAIL_SERVER_USERNAME, AWS_MAIL_SERVER_PASSWORD: are required in the environment to generate the SMTP Secret (or pass --smtp-secret NAME)',
      'app: NOTIFICATION_AUTH_TOKEN: is required in the environment to generate the Secret notification-auth-token (make one once with `openssl rand -hex 32` and keep it), or pass --notification-token-secret NAME',
    ])
    expect(result.stderr).not.toContain('dbpassword11')
  })

  test('--values reads options from a YAML file, and flags win', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'values-')), 'values.yaml')
    writeFileSync(
      file,
      [
        `image: ${image}`,
        'auth: none',
        `xrayRoleArn: ${roleArn}`,
        `certificateArn: ${certificateArn}`,
        'hosts: [a.example.com]',
        `dbHost: ${dbHost}`,
        'fromAddress: a@example.com',
        'replicas: 3',
        '',
      ].join('\n'),
    )
    const fromFile = runApp(['manifests', '--values', file, '--replicas', '2'], env)
    expect(fromFile.code).toBe(0)
    const deployment = find(parseObjects(fromFile.stdout), 'Deployment', 'usermgmt-microservice')
    expect(deployment?.['spec']).toMatchObject({ replicas: 2 })
  })

  test('--values that is not YAML, or names an unknown option, is one line and exit 2', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'values-')), 'values.yaml')
    writeFileSync(file, 'xrayRoleArn: [unclosed\n')
    expect(runApp(['manifests', '--values', file], env).stderr).toStartWith(
      `app: --values: ${file} is not YAML or JSON`,
    )
    writeFileSync(file, 'replica: 2\n')
    expect(runApp(['manifests', '--values', file], env).stderr).toStartWith(
      'app: unknown option replica (see app manifests --help)\n',
    )
  })
})
