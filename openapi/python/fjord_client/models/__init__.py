"""Contains all the data models used in inputs/outputs"""

from .acl import Acl
from .acl_operation import AclOperation
from .acl_permission import AclPermission
from .add_partitions import AddPartitions
from .alter_topic import AlterTopic
from .alter_topic_configs import AlterTopicConfigs
from .api_key import ApiKey
from .budget import Budget
from .budget_alert import BudgetAlert
from .budget_alert_list import BudgetAlertList
from .cluster import Cluster
from .cluster_event import ClusterEvent
from .cluster_limits import ClusterLimits
from .cluster_state import ClusterState
from .create_acl import CreateAcl
from .create_api_key import CreateApiKey
from .create_cluster import CreateCluster
from .create_credential import CreateCredential
from .create_member import CreateMember
from .create_tenant import CreateTenant
from .create_topic import CreateTopic
from .create_topic_configs import CreateTopicConfigs
from .created_api_key import CreatedApiKey
from .created_credential import CreatedCredential
from .credential import Credential
from .dimension import Dimension
from .encoding import Encoding
from .granularity import Granularity
from .group_by import GroupBy
from .health import Health
from .invoice import Invoice
from .invoice_format import InvoiceFormat
from .invoice_kind import InvoiceKind
from .invoice_line import InvoiceLine
from .invoice_list import InvoiceList
from .invoice_status import InvoiceStatus
from .jwk import Jwk
from .jwks import Jwks
from .limits_input import LimitsInput
from .member import Member
from .member_kind import MemberKind
from .message import Message
from .message_header import MessageHeader
from .message_page import MessagePage
from .new_price_book import NewPriceBook
from .page_acl import PageAcl
from .page_acl_items_item import PageAclItemsItem
from .page_api_key import PageApiKey
from .page_api_key_items_item import PageApiKeyItemsItem
from .page_cluster import PageCluster
from .page_cluster_event import PageClusterEvent
from .page_cluster_event_items_item import PageClusterEventItemsItem
from .page_cluster_items_item import PageClusterItemsItem
from .page_credential import PageCredential
from .page_credential_items_item import PageCredentialItemsItem
from .page_member import PageMember
from .page_member_items_item import PageMemberItemsItem
from .page_tenant import PageTenant
from .page_tenant_items_item import PageTenantItemsItem
from .page_topic import PageTopic
from .page_topic_items_item import PageTopicItemsItem
from .page_topic_items_item_configs import PageTopicItemsItemConfigs
from .pattern_type import PatternType
from .payload import Payload
from .price_book import PriceBook
from .price_book_list import PriceBookList
from .problem import Problem
from .resource_type import ResourceType
from .role import Role
from .rotated_key import RotatedKey
from .set_budget import SetBudget
from .tenant import Tenant
from .token_request import TokenRequest
from .token_response import TokenResponse
from .topic import Topic
from .topic_configs import TopicConfigs
from .unit_prices import UnitPrices
from .update_cluster import UpdateCluster
from .update_member import UpdateMember
from .usage_report import UsageReport
from .usage_row import UsageRow

__all__ = (
    "Acl",
    "AclOperation",
    "AclPermission",
    "AddPartitions",
    "AlterTopic",
    "AlterTopicConfigs",
    "ApiKey",
    "Budget",
    "BudgetAlert",
    "BudgetAlertList",
    "Cluster",
    "ClusterEvent",
    "ClusterLimits",
    "ClusterState",
    "CreateAcl",
    "CreateApiKey",
    "CreateCluster",
    "CreateCredential",
    "CreatedApiKey",
    "CreatedCredential",
    "CreateMember",
    "CreateTenant",
    "CreateTopic",
    "CreateTopicConfigs",
    "Credential",
    "Dimension",
    "Encoding",
    "Granularity",
    "GroupBy",
    "Health",
    "Invoice",
    "InvoiceFormat",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceList",
    "InvoiceStatus",
    "Jwk",
    "Jwks",
    "LimitsInput",
    "Member",
    "MemberKind",
    "Message",
    "MessageHeader",
    "MessagePage",
    "NewPriceBook",
    "PageAcl",
    "PageAclItemsItem",
    "PageApiKey",
    "PageApiKeyItemsItem",
    "PageCluster",
    "PageClusterEvent",
    "PageClusterEventItemsItem",
    "PageClusterItemsItem",
    "PageCredential",
    "PageCredentialItemsItem",
    "PageMember",
    "PageMemberItemsItem",
    "PageTenant",
    "PageTenantItemsItem",
    "PageTopic",
    "PageTopicItemsItem",
    "PageTopicItemsItemConfigs",
    "PatternType",
    "Payload",
    "PriceBook",
    "PriceBookList",
    "Problem",
    "ResourceType",
    "Role",
    "RotatedKey",
    "SetBudget",
    "Tenant",
    "TokenRequest",
    "TokenResponse",
    "Topic",
    "TopicConfigs",
    "UnitPrices",
    "UpdateCluster",
    "UpdateMember",
    "UsageReport",
    "UsageRow",
)
