# One region's Shoal nodes on ECS (Fargate): an ECS cluster, a Cloud Map
# private DNS namespace <region>.shoal.internal with the service "nodes"
# (an A record per running task: the join seed), one task definition and
# one service for every node of the region (desired_count = nodes, tasks
# spread over the subnets' zones), an EBS volume per task for the storage,
# and an S3 bucket for scheduled snapshots.
terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "region" { type = string }
variable "vpc_id" { type = string }
variable "subnet_ids" { type = list(string) }
variable "peer_cidrs" { type = list(string) }
variable "image" { type = string }
variable "secret_arn" { type = string }
variable "nodes" { type = number }
variable "join" { type = string }
variable "bootstrap_expect" { type = number }

variable "volume_gib" {
  type    = number
  default = 100
}

data "aws_caller_identity" "me" {}

resource "aws_ecs_cluster" "shoal" {
  name = "shoal"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_service_discovery_private_dns_namespace" "shoal" {
  name = "${var.region}.shoal.internal"
  vpc  = var.vpc_id
}

resource "aws_service_discovery_service" "nodes" {
  name = "nodes"
  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.shoal.id
    routing_policy = "MULTIVALUE"
    dns_records {
      type = "A"
      ttl  = 10
    }
  }
  health_check_custom_config {
    failure_threshold = 1
  }
}

resource "aws_s3_bucket" "snapshots" {
  bucket = "shoal-snapshots-${data.aws_caller_identity.me.account_id}-${var.region}"
}

resource "aws_security_group" "shoal" {
  name   = "shoal"
  vpc_id = var.vpc_id
  ingress {
    description = "REST, gRPC and peers"
    from_port   = 6333
    to_port     = 6335
    protocol    = "tcp"
    cidr_blocks = var.peer_cidrs
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "ebs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "shoal-execution-${var.region}"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secret" {
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = [var.secret_arn] }]
  })
}

resource "aws_iam_role" "task" {
  name               = "shoal-task-${var.region}"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

resource "aws_iam_role_policy" "task_snapshots" {
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListBucketMultipartUploads"]
      Resource = [aws_s3_bucket.snapshots.arn, "${aws_s3_bucket.snapshots.arn}/*"]
    }]
  })
}

resource "aws_iam_role" "ebs" {
  name               = "shoal-ebs-${var.region}"
  assume_role_policy = data.aws_iam_policy_document.ebs_assume.json
}

resource "aws_iam_role_policy_attachment" "ebs" {
  role       = aws_iam_role.ebs.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSInfrastructureRolePolicyForVolumes"
}

resource "aws_ecs_task_definition" "shoal" {
  family                   = "shoal"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 2048
  memory                   = 8192
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    cpu_architecture        = "ARM64"
    operating_system_family = "LINUX"
  }
  volume {
    name                = "storage"
    configure_at_launch = true
  }
  container_definitions = jsonencode([{
    name        = "shoal"
    image       = var.image
    essential   = true
    stopTimeout = 45
    portMappings = [
      { name = "rest", containerPort = 6333, protocol = "tcp" },
      { name = "grpc", containerPort = 6334, protocol = "tcp" },
      { name = "p2p", containerPort = 6335, protocol = "tcp" },
    ]
    environment = [
      { name = "QDRANT__CLUSTER__ENABLED", value = "true" },
      { name = "SHOAL__CLUSTER__JOIN", value = var.join },
      { name = "SHOAL__CLUSTER__BOOTSTRAP_EXPECT", value = tostring(var.bootstrap_expect) },
      { name = "QDRANT__STORAGE__SNAPSHOTS_CONFIG__SNAPSHOTS_STORAGE", value = "s3" },
      { name = "QDRANT__STORAGE__SNAPSHOTS_CONFIG__S3_CONFIG__BUCKET", value = aws_s3_bucket.snapshots.bucket },
      { name = "QDRANT__STORAGE__SNAPSHOTS_CONFIG__S3_CONFIG__REGION", value = var.region },
    ]
    secrets     = [{ name = "SHOAL__CLUSTER__SECRET", valueFrom = var.secret_arn }]
    mountPoints = [{ sourceVolume = "storage", containerPath = "/qdrant/storage", readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = "/ecs/shoal"
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "shoal"
        "awslogs-create-group"  = "true"
      }
    }
  }])
}

resource "aws_ecs_service" "shoal" {
  name                               = "shoal"
  cluster                            = aws_ecs_cluster.shoal.id
  task_definition                    = aws_ecs_task_definition.shoal.arn
  desired_count                      = var.nodes
  launch_type                        = "FARGATE"
  deployment_maximum_percent         = 100
  deployment_minimum_healthy_percent = 50
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.shoal.id]
    assign_public_ip = false
  }
  service_registries {
    registry_arn = aws_service_discovery_service.nodes.arn
  }
  volume_configuration {
    name = "storage"
    managed_ebs_volume {
      role_arn         = aws_iam_role.ebs.arn
      volume_type      = "gp3"
      size_in_gb       = var.volume_gib
      encrypted        = true
      file_system_type = "ext4"
    }
  }
}

output "hosted_zone_id" {
  value = aws_service_discovery_private_dns_namespace.shoal.hosted_zone
}

output "nodes_dns" {
  value = "nodes.${var.region}.shoal.internal"
}
