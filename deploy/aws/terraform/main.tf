# Shoal on Amazon ECS in three regions: one Shoal cluster whose nodes run in
# eu-west-1, eu-central-1 and eu-north-1 (by default two nodes per region),
# one node set per region from modules/shoal-region.
#
# Assumed to exist (variables): one VPC per region with private subnets in
# three availability zones, the VPCs peered with each other (routes and
# security groups open for 6333-6335 between them), an ECR image, and the
# cluster secret in Secrets Manager in every region.
#
# Every node joins through the Cloud Map names of all three regions
# (nodes.<region>.shoal.internal); each region's private DNS namespace is
# associated with the other two VPCs so that every name resolves
# everywhere. A node's zone and region come from its task metadata, so
# Shoal spreads the replicas of a shard over regions, then zones. Storage
# is an EBS volume per task; scheduled snapshots go to the region's S3
# bucket.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}

variable "regions" {
  description = "The three regions, in order: their VPCs, subnets and image."
  type = map(object({
    vpc_id     = string
    subnet_ids = list(string)
    vpc_cidrs  = list(string)
    image      = string
    secret_arn = string
  }))
}

variable "nodes_per_region" {
  type    = number
  default = 2
}

provider "aws" {
  alias  = "r1"
  region = "eu-west-1"
}

provider "aws" {
  alias  = "r2"
  region = "eu-central-1"
}

provider "aws" {
  alias  = "r3"
  region = "eu-north-1"
}

locals {
  join             = join(",", [for r in ["eu-west-1", "eu-central-1", "eu-north-1"] : "nodes.${r}.shoal.internal:6335"])
  bootstrap_expect = 3 * var.nodes_per_region
  # Peer traffic comes from every region's VPC.
  peer_cidrs = flatten([for r in var.regions : r.vpc_cidrs])
}

module "r1" {
  source           = "./modules/shoal-region"
  providers        = { aws = aws.r1 }
  region           = "eu-west-1"
  vpc_id           = var.regions["eu-west-1"].vpc_id
  subnet_ids       = var.regions["eu-west-1"].subnet_ids
  peer_cidrs       = local.peer_cidrs
  image            = var.regions["eu-west-1"].image
  secret_arn       = var.regions["eu-west-1"].secret_arn
  nodes            = var.nodes_per_region
  join             = local.join
  bootstrap_expect = local.bootstrap_expect
}

module "r2" {
  source           = "./modules/shoal-region"
  providers        = { aws = aws.r2 }
  region           = "eu-central-1"
  vpc_id           = var.regions["eu-central-1"].vpc_id
  subnet_ids       = var.regions["eu-central-1"].subnet_ids
  peer_cidrs       = local.peer_cidrs
  image            = var.regions["eu-central-1"].image
  secret_arn       = var.regions["eu-central-1"].secret_arn
  nodes            = var.nodes_per_region
  join             = local.join
  bootstrap_expect = local.bootstrap_expect
}

module "r3" {
  source           = "./modules/shoal-region"
  providers        = { aws = aws.r3 }
  region           = "eu-north-1"
  vpc_id           = var.regions["eu-north-1"].vpc_id
  subnet_ids       = var.regions["eu-north-1"].subnet_ids
  peer_cidrs       = local.peer_cidrs
  image            = var.regions["eu-north-1"].image
  secret_arn       = var.regions["eu-north-1"].secret_arn
  nodes            = var.nodes_per_region
  join             = local.join
  bootstrap_expect = local.bootstrap_expect
}

# Each region's Cloud Map zone resolves in the other regions' VPCs.
resource "aws_route53_zone_association" "r1_in_r2" {
  provider   = aws.r2
  zone_id    = module.r1.hosted_zone_id
  vpc_id     = var.regions["eu-central-1"].vpc_id
  vpc_region = "eu-central-1"
}

resource "aws_route53_zone_association" "r1_in_r3" {
  provider   = aws.r3
  zone_id    = module.r1.hosted_zone_id
  vpc_id     = var.regions["eu-north-1"].vpc_id
  vpc_region = "eu-north-1"
}

resource "aws_route53_zone_association" "r2_in_r1" {
  provider   = aws.r1
  zone_id    = module.r2.hosted_zone_id
  vpc_id     = var.regions["eu-west-1"].vpc_id
  vpc_region = "eu-west-1"
}

resource "aws_route53_zone_association" "r2_in_r3" {
  provider   = aws.r3
  zone_id    = module.r2.hosted_zone_id
  vpc_id     = var.regions["eu-north-1"].vpc_id
  vpc_region = "eu-north-1"
}

resource "aws_route53_zone_association" "r3_in_r1" {
  provider   = aws.r1
  zone_id    = module.r3.hosted_zone_id
  vpc_id     = var.regions["eu-west-1"].vpc_id
  vpc_region = "eu-west-1"
}

resource "aws_route53_zone_association" "r3_in_r2" {
  provider   = aws.r2
  zone_id    = module.r3.hosted_zone_id
  vpc_id     = var.regions["eu-central-1"].vpc_id
  vpc_region = "eu-central-1"
}

output "rest_names" {
  value = [module.r1.nodes_dns, module.r2.nodes_dns, module.r3.nodes_dns]
}
