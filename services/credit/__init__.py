"""Credit service: lending products, applications, credit lines, contracts and loans."""

NAME = "credit"
