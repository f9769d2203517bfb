"""The structured logger (Powertools), shared by the API, the stream handler and the workers."""

from aws_lambda_powertools import Logger

logger = Logger(service="borgos")
