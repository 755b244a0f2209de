#!/bin/bash
# LocalStack ready.d hook: creates in the emulator what infra/ (the CDK stack) creates in an AWS
# account, under the same names, so the worker's configuration has the same shape against both:
#   KMS key (rotation on) + alias/<prefix>-tenants   KMS_KEY_ID
#   SNS topic <prefix>-alarms                        ALARM_SNS_TOPIC_ARN
#   DB subnet group <prefix>-tenants (needs RDS)     RDS_SUBNET_GROUP
#   security group <prefix>-tenant-db, 5432 from <prefix>-data-plane and <prefix>-control-plane
#                                                    RDS_SECURITY_GROUP_IDS
# and writes those variables, with AWS_EMULATOR=true (LocalStack is not AWS), to
# /tmp/silo-prerequisites.env (see docs/deploying.md, "Docker").
# Idempotent: LocalStack may run it again. Resources are tagged silo:component=prerequisites,
# never managed-by=silo, which marks tenant resources.
set -euo pipefail

prefix="${SILO_RESOURCE_PREFIX:-silo}"
region="${AWS_DEFAULT_REGION:-us-east-1}"
env_file="/tmp/silo-prerequisites.env"
log() { echo "silo-init: $*"; }

# KMS key for tenant storage and secrets.
key_alias="alias/${prefix}-tenants"
if ! key_arn="$(awslocal kms describe-key --key-id "$key_alias" --query KeyMetadata.Arn --output text 2>/dev/null)"; then
  key_id="$(awslocal kms create-key --description "${prefix}: tenant RDS storage, Performance Insights and secrets" \
    --tags TagKey=silo:component,TagValue=prerequisites --query KeyMetadata.KeyId --output text)"
  awslocal kms enable-key-rotation --key-id "$key_id"
  awslocal kms create-alias --alias-name "$key_alias" --target-key-id "$key_id"
  key_arn="$(awslocal kms describe-key --key-id "$key_id" --query KeyMetadata.Arn --output text)"
  log "created KMS key $key_arn as $key_alias"
fi

# SNS topic for alarm actions (create-topic returns the existing one).
topic_arn="$(awslocal sns create-topic --name "${prefix}-alarms" \
  --tags Key=silo:component,Value=prerequisites --query TopicArn --output text)"
log "alarm topic $topic_arn"

# Network for tenant instances: a VPC with two subnets, the tenant security group admitting
# PostgreSQL from the client groups, and a DB subnet group (LocalStack's RDS is a Pro feature).
group_name="${prefix}-tenants"
tenant_sg_name="${prefix}-tenant-db"
sg_id="$(awslocal ec2 describe-security-groups --filters "Name=group-name,Values=${tenant_sg_name}" \
  --query 'SecurityGroups[0].GroupId' --output text)"
if [[ "$sg_id" == "None" || -z "$sg_id" ]]; then
  vpc_id="$(awslocal ec2 create-vpc --cidr-block 10.42.0.0/16 --query Vpc.VpcId --output text)"
  subnet_a="$(awslocal ec2 create-subnet --vpc-id "$vpc_id" --cidr-block 10.42.0.0/22 \
    --availability-zone "${region}a" --query Subnet.SubnetId --output text)"
  subnet_b="$(awslocal ec2 create-subnet --vpc-id "$vpc_id" --cidr-block 10.42.4.0/22 \
    --availability-zone "${region}b" --query Subnet.SubnetId --output text)"
  create_sg() {
    awslocal ec2 create-security-group --group-name "$1" --description "$2" --vpc-id "$vpc_id" \
      --query GroupId --output text
  }
  data_plane_sg="$(create_sg "${prefix}-data-plane" "${prefix} data plane: tenant applications")"
  control_plane_sg="$(create_sg "${prefix}-control-plane" "${prefix} control plane: API and worker")"
  sg_id="$(create_sg "$tenant_sg_name" "${prefix} tenant databases")"
  for source in "$data_plane_sg" "$control_plane_sg"; do
    awslocal ec2 authorize-security-group-ingress --group-id "$sg_id" \
      --ip-permissions "IpProtocol=tcp,FromPort=5432,ToPort=5432,UserIdGroupPairs=[{GroupId=${source}}]" >/dev/null
  done
  if awslocal rds create-db-subnet-group --db-subnet-group-name "$group_name" \
    --db-subnet-group-description "${prefix} tenant databases" --subnet-ids "$subnet_a" "$subnet_b" \
    --tags Key=silo:component,Value=prerequisites >/dev/null; then
    log "created DB subnet group $group_name in $vpc_id"
  else
    log "no DB subnet group: this LocalStack has no RDS (a Pro feature); RDS_SUBNET_GROUP stays unset"
  fi
  log "created security group $sg_id ($tenant_sg_name)"
fi

subnet_group=""
if awslocal rds describe-db-subnet-groups --db-subnet-group-name "$group_name" >/dev/null 2>&1; then
  subnet_group="$group_name"
fi

cat >"$env_file" <<EOF
AWS_EMULATOR=true
SILO_RESOURCE_PREFIX=${prefix}
KMS_KEY_ID=${key_arn}
ALARM_SNS_TOPIC_ARN=${topic_arn}
RDS_SUBNET_GROUP=${subnet_group}
RDS_SECURITY_GROUP_IDS=${sg_id}
EOF
log "worker configuration in $env_file:"
sed 's/^/silo-init:   /' "$env_file"
