package cloud

// regionCountry maps provider regions to the ISO 3166-1 alpha-2 country of their data centres.
// Sources: the providers' public region lists. A region missing here is reported as unknown
// (CountryKnown false), never guessed; "GLOBAL"/"global" scopes are deliberately absent.
var regionCountry = map[string]map[string]string{
	ProviderAWS: {
		"us-east-1": "US", "us-east-2": "US", "us-west-1": "US", "us-west-2": "US",
		"us-gov-east-1": "US", "us-gov-west-1": "US",
		"af-south-1": "ZA", "ap-east-1": "HK", "ap-east-2": "TW",
		"ap-south-1": "IN", "ap-south-2": "IN",
		"ap-northeast-1": "JP", "ap-northeast-2": "KR", "ap-northeast-3": "JP",
		"ap-southeast-1": "SG", "ap-southeast-2": "AU", "ap-southeast-3": "ID", "ap-southeast-4": "AU",
		"ap-southeast-5": "MY", "ap-southeast-6": "NZ", "ap-southeast-7": "TH",
		"ca-central-1": "CA", "ca-west-1": "CA", "cn-north-1": "CN", "cn-northwest-1": "CN",
		"eu-central-1": "DE", "eu-central-2": "CH", "eu-west-1": "IE", "eu-west-2": "GB", "eu-west-3": "FR",
		"eu-south-1": "IT", "eu-south-2": "ES", "eu-north-1": "SE", "eusc-de-east-1": "DE",
		"il-central-1": "IL", "me-south-1": "BH", "me-central-1": "AE", "mx-central-1": "MX", "sa-east-1": "BR",
	},
	ProviderGCP: {
		"africa-south1": "ZA",
		"asia-east1":    "TW", "asia-east2": "HK", "asia-northeast1": "JP", "asia-northeast2": "JP",
		"asia-northeast3": "KR", "asia-south1": "IN", "asia-south2": "IN", "asia-southeast1": "SG",
		"asia-southeast2": "ID", "australia-southeast1": "AU", "australia-southeast2": "AU",
		"europe-central2": "PL", "europe-north1": "FI", "europe-north2": "SE", "europe-southwest1": "ES",
		"europe-west1": "BE", "europe-west2": "GB", "europe-west3": "DE", "europe-west4": "NL",
		"europe-west6": "CH", "europe-west8": "IT", "europe-west9": "FR", "europe-west10": "DE",
		"europe-west12": "IT", "me-central1": "QA", "me-central2": "SA", "me-west1": "IL",
		"northamerica-northeast1": "CA", "northamerica-northeast2": "CA", "northamerica-south1": "MX",
		"southamerica-east1": "BR", "southamerica-west1": "CL",
		"us-central1": "US", "us-east1": "US", "us-east4": "US", "us-east5": "US", "us-south1": "US",
		"us-west1": "US", "us-west2": "US", "us-west3": "US", "us-west4": "US",
	},
	ProviderAzure: {
		"norwayeast": "NO", "norwaywest": "NO", "swedencentral": "SE", "swedensouth": "SE",
		"germanywestcentral": "DE", "germanynorth": "DE", "westeurope": "NL", "northeurope": "IE",
		"uksouth": "GB", "ukwest": "GB", "francecentral": "FR", "francesouth": "FR",
		"switzerlandnorth": "CH", "switzerlandwest": "CH", "italynorth": "IT", "polandcentral": "PL",
		"spaincentral": "ES", "austriaeast": "AT", "belgiumcentral": "BE", "denmarkeast": "DK",
		"eastus": "US", "eastus2": "US", "westus": "US", "westus2": "US", "westus3": "US",
		"centralus": "US", "northcentralus": "US", "southcentralus": "US", "westcentralus": "US",
		"canadacentral": "CA", "canadaeast": "CA", "brazilsouth": "BR", "brazilsoutheast": "BR",
		"mexicocentral": "MX", "chilecentral": "CL",
		"australiaeast": "AU", "australiasoutheast": "AU", "australiacentral": "AU", "australiacentral2": "AU",
		"eastasia": "HK", "southeastasia": "SG", "japaneast": "JP", "japanwest": "JP",
		"koreacentral": "KR", "koreasouth": "KR", "centralindia": "IN", "southindia": "IN", "westindia": "IN",
		"jioindiawest": "IN", "jioindiacentral": "IN", "uaenorth": "AE", "uaecentral": "AE",
		"qatarcentral": "QA", "israelcentral": "IL", "southafricanorth": "ZA", "southafricawest": "ZA",
		"newzealandnorth": "NZ", "indonesiacentral": "ID", "malaysiawest": "MY",
	},
}

// RegionCountry maps a provider region to its ISO 3166-1 alpha-2 country; ok is false when the
// region is global or not in the table.
func RegionCountry(provider, region string) (country string, ok bool) {
	country, ok = regionCountry[provider][region]
	return country, ok
}
