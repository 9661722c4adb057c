#include "tracking/mlflow_client.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace driftrun {
namespace {

TEST(MlflowClient, MalformedUrisAreUsageErrorsNamingTheKey) {
  for (const char* bad : {"localhost:5000", "ftp://host:21", "http://", "127.0.0.1", "http://u:p@host:5000",
                          "http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://h:5000/?x=1"}) {
    auto c = MlflowClient::Create(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), Code::kUsage) << bad;
    EXPECT_NE(c.status().message().find("mlflow.tracking_uri"), std::string::npos) << c.status().message();
  }
  for (const char* good : {"http://127.0.0.1:5000", "https://mlflow.example.com/prefix/", "http://[::1]:5000",
                           "HTTP://127.0.0.1:5000"}) {
    auto c = MlflowClient::Create(good);
    EXPECT_TRUE(c.ok()) << good << ": " << c.status().message();
  }
}

TEST(MlflowClient, ArtifactPathOfServedStoresOnly) {
  std::string p;
  ASSERT_TRUE(ArtifactPath("mlflow-artifacts:/1/abc/artifacts", &p));
  EXPECT_EQ(p, "1/abc/artifacts");
  ASSERT_TRUE(ArtifactPath("mlflow-artifacts://host:5000/1/abc/artifacts", &p));
  EXPECT_EQ(p, "1/abc/artifacts");
  ASSERT_TRUE(ArtifactPath("mlflow-artifacts://host", &p));
  EXPECT_EQ(p, "");
  for (const char* other : {"s3://bucket/1/abc", "file:///tmp/mlruns/1/abc", "/tmp/mlruns", ""})
    EXPECT_FALSE(ArtifactPath(other, &p)) << other;
  EXPECT_EQ(Tag("k", std::string(6000, 'x'))["value"].get<std::string>().size(), 5000u);
}

// A port nobody listens on: an infrastructure error that names the server,
// quickly (connection refused), never a hang.
TEST(MlflowClient, ADownServerIsAnInfraErrorNamingIt) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string uri = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  ::close(fd);  // the port is free and closed now
  auto c = MlflowClient::Create(uri, 1, 1);
  ASSERT_TRUE(c.ok());
  auto r = c.value()->Post("runs/create", {{"experiment_id", "0"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInfra);
  EXPECT_NE(r.status().message().find(uri), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("unreachable"), std::string::npos) << r.status().message();
  EXPECT_FALSE(IsMlflowError(r.status(), "RESOURCE_ALREADY_EXISTS"));
  EXPECT_TRUE(IsMlflowError(Status::Data("MLflow at x refused y: HTTP 400 RESOURCE_ALREADY_EXISTS: z"),
                            "RESOURCE_ALREADY_EXISTS"));
}

}  // namespace
}  // namespace driftrun
