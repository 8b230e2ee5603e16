/** The AWS SDK surface the store uses, in one place (tests import raw commands from here too). */
export {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
export type { AttributeValue, DynamoDBClientConfig, SSESpecification, TableDescription, WriteRequest } from '@aws-sdk/client-dynamodb';
