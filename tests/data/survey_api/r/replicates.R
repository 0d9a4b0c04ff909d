## References for tests/test_replicates.py, computed with R's survey package on the CSV
## samples of this folder (not run in CI). Run from the repository root:
##   Rscript tests/data/survey_api/r/replicates.R > tests/data/survey_api/r/replicates.Rout
## The printed output is committed beside this script (replicates.Rout).
suppressMessages(library(survey))
cat("R", R.version$major, ".", R.version$minor, " survey ", format(packageVersion("survey")), "\n", sep = "")
options(digits = 7, survey.replicates.mse = FALSE)
dir <- "tests/data/survey_api"
rd <- function(f) read.csv(file.path(dir, f), stringsAsFactors = TRUE,
                           colClasses = c(cds = "character"))
apiclus1 <- rd("apiclus1.csv"); apistrat <- rd("apistrat.csv")
est <- function(label, x) {
  cat("###", label, "\n")
  print(cbind(estimate = coef(x), SE = SE(x)), digits = 10)
}
show <- function(label, x) { cat("###", label, "\n"); print(x, digits = 10); invisible(x) }

## JK1 on apiclus1 (survey's tests and examples)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
jk1 <- as.svrepdesign(dclus1)
show("jk1 scale", jk1$scale)
show("jk1 degf", degf(jk1))
est("jk1 svymean api00", svymean(~api00, jk1))
est("jk1 svytotal enroll", svytotal(~enroll, jk1))
est("jk1 svymean stype", svymean(~stype, jk1))
est("jk1 svyratio api.stu enroll", svyratio(~api.stu, ~enroll, jk1))
est("jk1 svyby api00 stype", svyby(~api00, ~stype, jk1, svymean))
est("jk1 subset sch.wide Yes svymean api00", svymean(~api00, subset(jk1, sch.wide == "Yes")))
q <- svyquantile(~api00, jk1, c(0.25, 0.5, 0.75), ci = TRUE)
show("jk1 svyquantile api00", q)
est("jk1 mse svymean api00", svymean(~api00, as.svrepdesign(dclus1, mse = TRUE)))

## JK1 without fpc
dclus1n <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1)
jk1n <- as.svrepdesign(dclus1n)
est("jk1 nofpc svymean api00", svymean(~api00, jk1n))
est("jk1 nofpc svytotal enroll", svytotal(~enroll, jk1n))

## calibrated JK1 designs (rclus1 and rclus1p of survey's examples)
rclus1 <- as.svrepdesign(dclus1)
pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
rclus1p <- postStratify(rclus1, ~stype, pop.types)
est("rclus1p svymean api00", svymean(~api00, rclus1p))
est("rclus1p svytotal enroll", svytotal(~enroll, rclus1p))
est("rclus1p svyby api00 stype", svyby(~api00, ~stype, rclus1p, svymean))
pop.schwide <- data.frame(sch.wide = c("No", "Yes"), Freq = c(1072, 5122))
rclus1r <- rake(rclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide))
est("rclus1r svymean api00", svymean(~api00, rclus1r))
est("rclus1r svytotal enroll", svytotal(~enroll, rclus1r))
rclus1rc <- rake(rclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide),
                 control = list(maxit = 100, epsilon = 1e-10))
est("rclus1r converged svymean api00", svymean(~api00, rclus1rc))
est("rclus1r converged svytotal enroll", svytotal(~enroll, rclus1rc))
rclus1g <- calibrate(rclus1, ~api99, c(6194, 3914069))
est("rclus1g svymean api00", svymean(~api00, rclus1g))
est("rclus1g svytotal enroll", svytotal(~enroll, rclus1g))
rclus1g3 <- calibrate(rclus1, ~stype + api99, c(6194, 755, 1018, 3914069))
est("rclus1g3 svymean api00", svymean(~api00, rclus1g3))

## JKn on apistrat
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
jkn <- as.svrepdesign(dstrat, type = "JKn")
show("jkn degf", degf(jkn))
est("jkn svymean api00", svymean(~api00, jkn))
est("jkn svytotal enroll", svytotal(~enroll, jkn))
est("jkn svyratio api.stu enroll", svyratio(~api.stu, ~enroll, jkn))
est("jkn svyby api00 sch.wide", svyby(~api00, ~sch.wide, jkn, svymean))
dstratn <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat)
est("jkn nofpc svymean api00", svymean(~api00, as.svrepdesign(dstratn, type = "JKn")))

## BRR and Fay on a 2-PSU-per-stratum design built from apistrat: within each school type,
## schools sorted by snum are dealt in turn to 3 (E) or 2 (H, M) strata, 7 in all, and
## within a stratum alternately to PSU 1 and 2 (clusters of schools)
s <- apistrat[order(apistrat$stype, apistrat$snum), ]
k <- c(E = 3, H = 2, M = 2)[as.character(s$stype)]
rank <- ave(seq_len(nrow(s)), s$stype, FUN = seq_along) - 1
s$st <- paste0(s$stype, rank %% k + 1)
s$psu <- (rank %/% k) %% 2 + 1
write.csv(s[, c("snum", "st", "psu")], "tests/data/survey_api/r/brr_strata.csv", row.names = FALSE)
show("brr strata", table(s$st, s$psu))
d2 <- svydesign(id = ~psu, strata = ~st, weights = ~pw, data = s, nest = TRUE)
brr <- as.svrepdesign(d2, type = "BRR")
show("brr replicates", ncol(brr$repweights$weights))
est("brr svymean api00", svymean(~api00, brr))
est("brr svytotal enroll", svytotal(~enroll, brr))
est("brr svyratio api.stu enroll", svyratio(~api.stu, ~enroll, brr))
fay <- as.svrepdesign(d2, type = "Fay", fay.rho = 0.3)
est("fay svymean api00", svymean(~api00, fay))
est("fay svytotal enroll", svytotal(~enroll, fay))

## replicate weights delivered with the data (svrepdesign)
w <- weights(jk1, "analysis")
colnames(w) <- paste0("repw", seq_len(ncol(w)))
f <- cbind(apiclus1[, c("cds", "api00", "enroll", "pw")], w)
write.csv(f, "tests/data/survey_api/r/apiclus1_jk1.csv", row.names = FALSE)
fileda <- svrepdesign(data = f, repweights = "repw[0-9]+", weights = ~pw, type = "JK1",
                      scale = jk1$scale, combined.weights = TRUE)
est("file jk1 svymean api00", svymean(~api00, fileda))
show("file jk1 degf", degf(fileda))

## models refitted in every replicate (svyglm on a replicate design)
apiclus1$hi <- as.integer(apiclus1$api00 > 650)
jk1m <- as.svrepdesign(svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc))
m <- summary(svyglm(api00 ~ ell + meals, jk1m))$coefficients
cat("### jk1 svyglm api00 ell meals\n"); print(m[, 1:2], digits = 10)
m <- summary(svyglm(hi ~ ell + meals, jk1m, family = quasibinomial))$coefficients
cat("### jk1 svyglm logit hi ell meals\n"); print(m[, 1:2], digits = 10)

## quantiles of a post-stratified JK1 design
show("rclus1p svyquantile api00", svyquantile(~api00, rclus1p, c(0.25, 0.5, 0.75), ci = TRUE))
