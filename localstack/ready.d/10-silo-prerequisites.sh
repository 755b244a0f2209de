#!/bin/bash
# LocalStack ready.d hook: creates what the provisioning worker expects to exist in an account,
# under the names the infra/ stack gives them, so that the worker's configuration is the same
# against LocalStack as against a deployed account. Idempotent: LocalStack may run it again.
set -euo pipefail

prefix="${SILO_RESOURCE_PREFIX:-silo}"
region="${AWS_DEFAULT_REGION:-us-east-1}"
log() { echo "silo-init: $*"; }

# KMS key for tenant storage and secrets, with the alias the worker's KMS_KEY_ID can name.
alias_name="alias/${prefix}-tenants"
if ! awslocal kms describe-key --key-id "$alias_name" >/dev/null 2>&1; then
  key_id="$(awslocal kms create-key --description "${prefix} tenant storage and secrets" \
    --tags TagKey=managed-by,TagValue=silo --query KeyMetadata.KeyId --output text)"
  awslocal kms enable-key-rotation --key-id "$key_id"
  awslocal kms create-alias --alias-name "$alias_name" --target-key-id "$key_id"
  log "created KMS key $key_id as $alias_name"
fi

# SNS topic for alarm actions.
topic_arn="$(awslocal sns create-topic --name "${prefix}-alarms" --tags Key=managed-by,Value=silo \
  --query TopicArn --output text)"
log "alarm topic $topic_arn"

# Network for tenant instances: a VPC with two private subnets, a DB subnet group over them and
# a security group that the data plane's group would be admitted by on 5432.
group_name="${prefix}-tenants"
if ! awslocal rds describe-db-subnet-groups --db-subnet-group-name "$group_name" >/dev/null 2>&1; then
  vpc_id="$(awslocal ec2 create-vpc --cidr-block 10.42.0.0/16 --query Vpc.VpcId --output text)"
  subnet_a="$(awslocal ec2 create-subnet --vpc-id "$vpc_id" --cidr-block 10.42.1.0/24 \
    --availability-zone "${region}a" --query Subnet.SubnetId --output text)"
  subnet_b="$(awslocal ec2 create-subnet --vpc-id "$vpc_id" --cidr-block 10.42.2.0/24 \
    --availability-zone "${region}b" --query Subnet.SubnetId --output text)"
  awslocal rds create-db-subnet-group --db-subnet-group-name "$group_name" \
    --db-subnet-group-description "${prefix} tenant databases" --subnet-ids "$subnet_a" "$subnet_b" \
    --tags Key=managed-by,Value=silo >/dev/null
  sg_id="$(awslocal ec2 create-security-group --group-name "${prefix}-tenant-db" \
    --description "${prefix} tenant databases" --vpc-id "$vpc_id" --query GroupId --output text)"
  log "created DB subnet group $group_name in $vpc_id and security group $sg_id"
fi
