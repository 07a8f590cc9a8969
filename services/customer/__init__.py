"""Customer service: parties (people, enterprises, village collectives) and the org directory."""

NAME = "customer"
